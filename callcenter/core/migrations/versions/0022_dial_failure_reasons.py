"""dial failure reasons: why an attempt reached nobody, why the worker paused a campaign

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dial_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('sip_status', sa.Integer(), nullable=True))
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stop_reason', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('stop_status', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('stop_status')
        batch_op.drop_column('stop_reason')
    with op.batch_alter_table('dial_attempts', schema=None) as batch_op:
        batch_op.drop_column('sip_status')
        batch_op.drop_column('reason')
