"""fhir connector: per-clinic FHIR server settings, the status write-back queue, and an index
from our visit to the server's id

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-01 04:14:40.341062
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0030'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fhir_connections',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=False),
    sa.Column('sealed_token', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('pull_minutes', sa.Integer(), nullable=False),
    sa.Column('cursors', sa.JSON(), nullable=False),
    sa.Column('outbox_cursor', sa.Integer(), nullable=False),
    sa.Column('pull_state', sa.String(length=12), nullable=False),
    sa.Column('pull_started_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pull_finished_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pull_counts', sa.JSON(), nullable=False),
    sa.Column('pull_refusals', sa.JSON(), nullable=False),
    sa.Column('pull_error', sa.Text(), nullable=False),
    sa.Column('updated_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_fhir_connections_clinic_id_clinics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('clinic_id', name=op.f('pk_fhir_connections'))
    )
    op.create_table('fhir_writebacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('fhir_id', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('changed_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempted_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('written', sa.String(length=40), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_fhir_writebacks_appointment_id_appointments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_fhir_writebacks_clinic_id_clinics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_writebacks')),
    sa.UniqueConstraint('clinic_id', 'appointment_id', name=op.f('uq_fhir_writebacks_clinic_id_appointment_id'))
    )
    with op.batch_alter_table('fhir_writebacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_writebacks_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fhir_writebacks_state'), ['state'], unique=False)

    with op.batch_alter_table('external_refs', schema=None) as batch_op:
        batch_op.create_index('ix_external_refs_local', ['clinic_id', 'kind', 'local_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('external_refs', schema=None) as batch_op:
        batch_op.drop_index('ix_external_refs_local')

    with op.batch_alter_table('fhir_writebacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_writebacks_state'))
        batch_op.drop_index(batch_op.f('ix_fhir_writebacks_clinic_id'))

    op.drop_table('fhir_writebacks')
    op.drop_table('fhir_connections')
