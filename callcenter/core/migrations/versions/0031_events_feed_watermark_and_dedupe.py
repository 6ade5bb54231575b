"""events: the writing transaction of each (the changes feed's watermark), a dedupe key

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01 04:11:47.535318
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        # Events written before this revision are older than any transaction still running:
        # 0 puts them first in the feed's (xid, id) order.
        batch_op.add_column(sa.Column('xid', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=80), nullable=True))
        batch_op.create_index('ix_outbox_events_feed', ['clinic_id', 'xid', 'id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_outbox_events_clinic_id_dedupe_key'),
                                          ['clinic_id', 'dedupe_key'])
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.alter_column('xid', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_outbox_events_clinic_id_dedupe_key'), type_='unique')
        batch_op.drop_index('ix_outbox_events_feed')
        batch_op.drop_column('dedupe_key')
        batch_op.drop_column('xid')
