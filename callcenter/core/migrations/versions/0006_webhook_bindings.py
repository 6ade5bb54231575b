"""webhook bindings: what the first accepted webhook fixed for a call

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.core.models.base import UTCDateTime

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'webhook_bindings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('key_digest', sa.String(length=64), nullable=False),
        sa.Column('call_key', sa.String(length=200), nullable=False),
        sa.Column('facts_digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_bindings')),
        sa.UniqueConstraint('provider', 'scope', 'key_digest',
                            name=op.f('uq_webhook_bindings_provider_scope_key_digest')),
    )
    with op.batch_alter_table('webhook_bindings', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_bindings_call', ['provider', 'scope', 'call_key'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_bindings', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_bindings_call')
    op.drop_table('webhook_bindings')
