"""first run: the set-up guard row, and the demo clinic marked as such

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A demo loaded before this revision shows its banner too: its administrator is always the same.
MARK_DEMO = """
UPDATE clinics SET is_demo = true WHERE id IN (
    SELECT clinic_id FROM staff WHERE login = 'admin' AND last_name = 'Соколова' AND first_name = 'Елена')
"""


def upgrade() -> None:
    op.create_table('first_run',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('admin_id', sa.Integer(), nullable=False),
    sa.Column('done_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_first_run_single_row')),
    sa.ForeignKeyConstraint(['admin_id'], ['staff.id'], name=op.f('fk_first_run_admin_id_staff'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_first_run'))
    )
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_demo', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(MARK_DEMO)


def downgrade() -> None:
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('is_demo')
    op.drop_table('first_run')
