"""per-clinic caller ID, outbound calling window and default language of new patients

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL everywhere: existing clinics keep following the environment's settings.
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller_id', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('call_window_start', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('call_window_end', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('patient_language', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('patient_language')
        batch_op.drop_column('call_window_end')
        batch_op.drop_column('call_window_start')
        batch_op.drop_column('caller_id')
