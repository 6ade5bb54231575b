"""booking guard: slot claims (one row per slot a visit holds) and the overbooked flag

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 00:58:22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Visits booked before this revision hold no claims: the booking checks still see them, and
    # a race needs two new bookings, both of which claim.
    op.create_table('slot_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lane', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'],
                            name=op.f('fk_slot_claims_appointment_id_appointments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_slot_claims_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['doctor_id'], ['staff.id'], name=op.f('fk_slot_claims_doctor_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot_claims')),
    sa.UniqueConstraint('doctor_id', 'starts_at', 'lane',
                        name=op.f('uq_slot_claims_doctor_id_starts_at_lane'))
    )
    with op.batch_alter_table('slot_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slot_claims_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_claims_clinic_id'), ['clinic_id'], unique=False)

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overbooked', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_column('overbooked')

    with op.batch_alter_table('slot_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slot_claims_clinic_id'))
        batch_op.drop_index(batch_op.f('ix_slot_claims_appointment_id'))

    op.drop_table('slot_claims')
