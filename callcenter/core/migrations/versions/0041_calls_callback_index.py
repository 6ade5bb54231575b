"""calls: the missed calls a call returned found by index, not by reading every call

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-03 15:00:00

Two readers asked "which calls did this call return?" with nothing to find it by: the roll-ups'
refresh (after every batch of webhooks a report meets: 65 ms of its 160 ms at 300,000 calls on
SQLite, measured) and the call-back script of an outbound call at the desk. Partial: most calls
return no missed call and are not in it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0041'
down_revision: str | None = '0040'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_calls_callback', 'calls', ['callback_call_id'],
                    postgresql_where=sa.text('callback_call_id IS NOT NULL'),
                    sqlite_where=sa.text('callback_call_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_calls_callback', table_name='calls')
