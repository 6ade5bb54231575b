"""messages: the text outbox and replies; per-clinic text settings

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('purpose', sa.Enum('confirmation', 'text_back', 'after_care', 'recall', 'desk', 'reply', name='message_purpose', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('sender', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=True),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('provider_message_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled', 'received', name='message_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=False),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reading', sa.String(length=16), nullable=False),
    sa.Column('read_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_messages_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_messages_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_messages_patient_id_patients')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_messages_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('clinic_id', 'dedupe_key', name=op.f('uq_messages_clinic_id_dedupe_key')),
    sa.UniqueConstraint('provider', 'provider_message_id', name=op.f('uq_messages_provider_provider_message_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_clinic_created', ['clinic_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_messages_phone_created', ['phone', 'created_at'], unique=False)
        batch_op.create_index('ix_messages_status_next', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_confirmation', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sms_window_start', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('sms_window_end', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('sms_sender', sa.String(length=20), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('sms_sender')
        batch_op.drop_column('sms_window_end')
        batch_op.drop_column('sms_window_start')
        batch_op.drop_column('sms_confirmation')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_status_next')
        batch_op.drop_index('ix_messages_phone_created')
        batch_op.drop_index(batch_op.f('ix_messages_patient_id'))
        batch_op.drop_index('ix_messages_clinic_created')

    op.drop_table('messages')
