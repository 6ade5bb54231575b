"""outbound list indexes: the follow-up, recall and missed-call lists of a million-patient clinic

Revision ID: 0037
Revises: 0035
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0037'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The follow-up list asks each treatment type for a few days: without the type in the index
    # it read every treatment of those days (ten times the rows it kept). On PostgreSQL the id
    # rides along, so the list is read from the index alone.
    op.create_index('ix_treatments_clinic_type_performed', 'treatments',
                    ['clinic_id', 'type', 'performed_on', 'patient_id'], postgresql_include=['id'])
    # The recall list reads every treatment of a few days: with the patient and id included, from
    # the index alone.
    op.drop_index('ix_treatments_clinic_performed', table_name='treatments')
    op.create_index('ix_treatments_clinic_performed', 'treatments', ['clinic_id', 'performed_on'],
                    postgresql_include=['patient_id', 'id'])
    # "No later treatment" (recall) and "no crown since" (implant) are one probe per candidate.
    op.create_index('ix_treatments_patient_performed', 'treatments', ['patient_id', 'performed_on'])
    op.drop_index('ix_treatments_patient_id', table_name='treatments')
    # The number a patient is called on (`outbound.reach.phone_to_call`), probed for each of a
    # list's patients: their first phone and whether the card may be called, from indexes alone.
    op.create_index('ix_patient_phones_patient_order', 'patient_phones', ['patient_id', 'id'],
                    postgresql_include=['e164'])
    op.drop_index('ix_patient_phones_patient_id', table_name='patient_phones')
    op.create_index('ix_patients_callable', 'patients', ['id'], postgresql_include=['clinic_id'],
                    postgresql_where=sa.text('consent_calls IS TRUE AND erased_at IS NULL'),
                    sqlite_where=sa.text('consent_calls IS TRUE AND erased_at IS NULL'))
    # The tasks a list already has for its days, read from the index alone.
    op.create_index('ix_dial_tasks_clinic_purpose_due', 'dial_tasks',
                    ['clinic_id', 'purpose', 'due_date', 'patient_id'])
    # A missed call already has its call-back task: only those tasks carry a call.
    op.create_index('ix_dial_tasks_call', 'dial_tasks', ['call_id'],
                    postgresql_where=sa.text('call_id IS NOT NULL'),
                    sqlite_where=sa.text('call_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_dial_tasks_call', table_name='dial_tasks')
    op.drop_index('ix_dial_tasks_clinic_purpose_due', table_name='dial_tasks')
    op.drop_index('ix_patients_callable', table_name='patients')
    op.create_index('ix_patient_phones_patient_id', 'patient_phones', ['patient_id'])
    op.drop_index('ix_patient_phones_patient_order', table_name='patient_phones')
    op.create_index('ix_treatments_patient_id', 'treatments', ['patient_id'])
    op.drop_index('ix_treatments_patient_performed', table_name='treatments')
    op.drop_index('ix_treatments_clinic_type_performed', table_name='treatments')
    op.drop_index('ix_treatments_clinic_performed', table_name='treatments')
    op.create_index('ix_treatments_clinic_performed', 'treatments', ['clinic_id', 'performed_on'])
