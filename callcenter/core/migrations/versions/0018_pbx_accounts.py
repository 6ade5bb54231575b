"""a clinic's own PBX accounts (URL token + sealed signing settings); the account of each raw webhook

Revision ID: 0018
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.core.models.base

revision: str = '0018'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pbx_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('sealed_settings', sa.Text(), nullable=False),
    sa.Column('created_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', callcenter.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_pbx_accounts_clinic_id_clinics'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_accounts')),
    sa.UniqueConstraint('clinic_id', 'provider', name=op.f('uq_pbx_accounts_clinic_id_provider')),
    sa.UniqueConstraint('token', name=op.f('uq_pbx_accounts_token'))
    )
    with op.batch_alter_table('pbx_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_accounts_clinic_id'), ['clinic_id'], unique=False)
    with op.batch_alter_table('raw_webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pbx_account_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_raw_webhooks_pbx_account_id_pbx_accounts'),
                                    'pbx_accounts', ['pbx_account_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('raw_webhooks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_raw_webhooks_pbx_account_id_pbx_accounts'),
                                 type_='foreignkey')
        batch_op.drop_column('pbx_account_id')
    with op.batch_alter_table('pbx_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pbx_accounts_clinic_id'))
    op.drop_table('pbx_accounts')
