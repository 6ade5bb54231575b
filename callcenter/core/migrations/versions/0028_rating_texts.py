"""rating texts: "rating" is a purpose of a text message (the question after a visit)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ('confirmation', 'text_back', 'after_care', 'recall', 'desk', 'reply')
AFTER = ('confirmation', 'text_back', 'after_care', 'recall', 'rating', 'desk', 'reply')


def _purposes(values: tuple[str, ...]) -> None:
    # The purpose is a VARCHAR with a CHECK (portable enum); SQLite needs the table recreated.
    listed = ", ".join(f"'{v}'" for v in values)
    with op.batch_alter_table('messages', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint(op.f('ck_messages_message_purpose'), type_='check')
        batch_op.create_check_constraint('message_purpose', f"purpose IN ({listed})")


def upgrade() -> None:
    _purposes(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE purpose = 'rating'")
    _purposes(BEFORE)
