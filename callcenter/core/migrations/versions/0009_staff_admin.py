"""staff administration: a forced password change after an admin sets one; doctors' absences

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('doctor_absences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.Enum('vacation', 'sick_leave', 'other', name='absence_kind', native_enum=False,
                              create_constraint=True, length=24), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_doctor_absences_ordered')),
    sa.ForeignKeyConstraint(['doctor_id'], ['staff.id'], name=op.f('fk_doctor_absences_doctor_id_staff'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doctor_absences'))
    )
    with op.batch_alter_table('doctor_absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doctor_absences_doctor_id'), ['doctor_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('doctor_absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_doctor_absences_doctor_id'))
    op.drop_table('doctor_absences')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
