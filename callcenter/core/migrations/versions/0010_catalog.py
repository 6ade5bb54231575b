"""services (the price list), the clinic's currency, main line and retired numbers and channels

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.core.models.base import UTCDateTime

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'services',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.Integer(), nullable=False),
        sa.Column('names', sa.JSON(), nullable=False),
        sa.Column('duration_minutes', sa.Integer(), nullable=False),
        sa.Column('price_min', sa.BigInteger(), nullable=True),
        sa.Column('price_max', sa.BigInteger(), nullable=True),
        sa.Column('specialties', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_services_clinic_id_clinics')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_services_clinic_id'), ['clinic_id'], unique=False)
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('tracking_numbers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('main_line', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('tracking_numbers', schema=None) as batch_op:
        batch_op.drop_column('active')
        batch_op.drop_column('main_line')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('active')
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('currency')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_services_clinic_id'))
    op.drop_table('services')
