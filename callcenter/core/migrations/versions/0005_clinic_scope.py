"""clinic scope: staff working in several clinics, the clinic of each raw webhook

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:53:43.507373
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A raw webhook already applied belongs to the clinic of the call its events went to.
BACKFILL = """
UPDATE raw_webhooks SET clinic_id = (
    SELECT calls.clinic_id FROM call_events JOIN calls ON calls.id = call_events.call_id
    WHERE call_events.raw_webhook_id = raw_webhooks.id
    ORDER BY call_events.id LIMIT 1)
"""


def upgrade() -> None:
    op.create_table('staff_clinics',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_staff_clinics_clinic_id_clinics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_clinics_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'clinic_id', name=op.f('pk_staff_clinics'))
    )
    with op.batch_alter_table('staff_clinics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_clinics_clinic_id'), ['clinic_id'], unique=False)

    with op.batch_alter_table('raw_webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clinic_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_raw_webhooks_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_raw_webhooks_clinic_id_clinics'), 'clinics', ['clinic_id'], ['id'])
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('raw_webhooks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_raw_webhooks_clinic_id_clinics'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_raw_webhooks_clinic_id'))
        batch_op.drop_column('clinic_id')

    with op.batch_alter_table('staff_clinics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_clinics_clinic_id'))

    op.drop_table('staff_clinics')
