"""indexes that a longer index already covers dropped: every row written paid for each

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-03 14:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0039'
down_revision: str | None = '0038'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): the one-column index on it, whose lookups the longer index named beside it
# (its first column the same) answers as well, on both databases, foreign-key checks included.
COVERED = (
    ("appointments", "clinic_id"),  # ix_appointments_clinic_start
    ("call_events", "call_id"),  # uq_call_events_call_id_dedupe_key
    ("complaint_rules", "clinic_id"),  # uq_complaint_rules_clinic_id_subject_severity
    ("days_off", "clinic_id"),  # uq_days_off_clinic_id_day
    ("dial_attempts", "task_id"),  # uq_dial_attempts_task_id_attempt_no
    ("dial_tasks", "patient_id"),  # uq_dial_tasks_patient_id_purpose_due_date
    ("external_refs", "clinic_id"),  # ix_external_refs_local
    ("fhir_writebacks", "clinic_id"),  # uq_fhir_writebacks_clinic_id_appointment_id
    ("idempotent_requests", "clinic_id"),  # uq_idempotent_requests_clinic_id_key
    ("import_profiles", "clinic_id"),  # uq_import_profiles_clinic_id_kind_name
    ("non_patient_routes", "clinic_id"),  # uq_non_patient_routes_clinic_id_purpose
    ("organisations", "clinic_id"),  # uq_organisations_clinic_id_e164
    ("outbox_events", "clinic_id"),  # ix_outbox_events_feed
    ("pbx_accounts", "clinic_id"),  # uq_pbx_accounts_clinic_id_provider
    ("treatments", "clinic_id"),  # ix_treatments_clinic_type_performed
)


def upgrade() -> None:
    for table, column in COVERED:
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    for table, column in COVERED:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)
