"""call drafts: what a receptionist typed on a call's card and has not saved yet

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('call_drafts',
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('heard_from', sa.String(length=60), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('updated_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_drafts_call_id_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_call_drafts_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_call_drafts_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_id', 'staff_id', name=op.f('pk_call_drafts'))
    )
    with op.batch_alter_table('call_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_drafts_clinic_id'), ['clinic_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('call_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_drafts_clinic_id'))
    op.drop_table('call_drafts')
