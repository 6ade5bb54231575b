"""visit lifecycle: doctor notices, the waiting-list flag, a campaign's stop reason, gap-fill tasks

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_PURPOSES = ('confirmation', 'follow_up', 'recall', 'no_show', 'missed_call', 'reschedule', 'call_back')
NEW_PURPOSES = (*OLD_PURPOSES, 'gap_fill')


def _purpose(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='task_purpose', native_enum=False, create_constraint=True, length=24)


def _purposes(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """The purpose columns' CHECK lists the values: replace it (SQLite rebuilds the table)."""
    for table in ('campaigns', 'dial_tasks'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('purpose', existing_type=_purpose(old), type_=_purpose(new),
                                  existing_nullable=False)


def upgrade() -> None:
    _purposes(OLD_PURPOSES, NEW_PURPOSES)
    op.create_table('doctor_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_doctor_notices_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_doctor_notices_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], name=op.f('fk_doctor_notices_created_by_id_staff')),
    sa.ForeignKeyConstraint(['doctor_id'], ['staff.id'], name=op.f('fk_doctor_notices_doctor_id_staff')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_doctor_notices_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doctor_notices'))
    )
    with op.batch_alter_table('doctor_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doctor_notices_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_doctor_notices_doctor_id'), ['doctor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_doctor_notices_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wants_earlier', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    op.execute("DELETE FROM dial_tasks WHERE purpose = 'gap_fill'")
    op.execute("DELETE FROM campaigns WHERE purpose = 'gap_fill'")
    _purposes(NEW_PURPOSES, OLD_PURPOSES)
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_column('wants_earlier')

    with op.batch_alter_table('doctor_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_doctor_notices_patient_id'))
        batch_op.drop_index(batch_op.f('ix_doctor_notices_doctor_id'))
        batch_op.drop_index(batch_op.f('ix_doctor_notices_clinic_id'))

    op.drop_table('doctor_notices')
