"""Google Ads call conversions: the action and the channel of calls from Google call assets;
a conversion without a website visit (the call itself is the match)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('web_ad_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('google_call_action', sa.String(length=20), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('google_call_channel', sa.String(length=64), nullable=False,
                                      server_default=''))
    with op.batch_alter_table('web_conversions', schema=None) as batch_op:
        batch_op.alter_column('visit_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM web_conversions WHERE visit_id IS NULL")
    with op.batch_alter_table('web_conversions', schema=None) as batch_op:
        batch_op.alter_column('visit_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('web_ad_accounts', schema=None) as batch_op:
        batch_op.drop_column('google_call_channel')
        batch_op.drop_column('google_call_action')
