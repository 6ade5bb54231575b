"""the clinic of each audit row; do-not-call entries by clinic, with a reason and who added them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An audit row belongs to the clinic of the record it names, else to the staff member's own
# clinic; a row neither names (a system action on no clinic's record) stays NULL: only an admin
# of every clinic sees it.
AUDIT_BACKFILL = [
    ("patient", "patients"), ("call", "calls"), ("appointment", "appointments"),
    ("tracking_number", "tracking_numbers"), ("campaign", "campaigns"),
]
AUDIT_BY_OBJECT = """
UPDATE audit_log SET clinic_id = (
    SELECT {table}.clinic_id FROM {table} WHERE CAST({table}.id AS VARCHAR(64)) = audit_log.object_id)
WHERE clinic_id IS NULL AND object_type = '{kind}'
"""
AUDIT_BY_CLINIC = """
UPDATE audit_log SET clinic_id = (
    SELECT clinics.id FROM clinics WHERE CAST(clinics.id AS VARCHAR(64)) = audit_log.object_id)
WHERE clinic_id IS NULL AND object_type = 'clinic'
"""
AUDIT_BY_STAFF = """
UPDATE audit_log SET clinic_id = (SELECT staff.clinic_id FROM staff WHERE staff.id = audit_log.staff_id)
WHERE clinic_id IS NULL AND staff_id IS NOT NULL
"""
# An opt-out recorded for a patient is that patient's clinic's; with one clinic, every one is.
OPT_OUT_BY_PATIENT = """
UPDATE opt_outs SET clinic_id = (SELECT patients.clinic_id FROM patients WHERE patients.id = opt_outs.patient_id)
WHERE patient_id IS NOT NULL
"""
OPT_OUT_SINGLE_CLINIC = """
UPDATE opt_outs SET clinic_id = (SELECT MIN(id) FROM clinics)
WHERE clinic_id IS NULL AND (SELECT COUNT(*) FROM clinics) = 1
"""


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clinic_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_audit_log_clinic_at', ['clinic_id', 'at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_log_clinic_id_clinics'), 'clinics', ['clinic_id'], ['id'])
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clinic_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_opt_outs_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_opt_outs_clinic_id_clinics'), 'clinics', ['clinic_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_opt_outs_staff_id_staff'), 'staff', ['staff_id'], ['id'])
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.alter_column('reason', server_default=None)
    for kind, table in AUDIT_BACKFILL:
        op.execute(AUDIT_BY_OBJECT.format(kind=kind, table=table))
    op.execute(AUDIT_BY_CLINIC)
    op.execute(AUDIT_BY_STAFF)
    op.execute(OPT_OUT_BY_PATIENT)
    op.execute(OPT_OUT_SINGLE_CLINIC)


def downgrade() -> None:
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_opt_outs_staff_id_staff'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_opt_outs_clinic_id_clinics'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_opt_outs_clinic_id'))
        batch_op.drop_column('staff_id')
        batch_op.drop_column('reason')
        batch_op.drop_column('clinic_id')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_log_clinic_id_clinics'), type_='foreignkey')
        batch_op.drop_index('ix_audit_log_clinic_at')
        batch_op.drop_column('clinic_id')
