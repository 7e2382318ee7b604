"""checkin.nonce_scope: a nonce is bound to the scan it was made for

Revision ID: 0002_checkin_nonce_scope
Revises: 0001
Create Date: 2026-11-28 09:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0002_checkin_nonce_scope'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # Rows written before have no scope: their nonces are never replayed again (refused).
    with op.batch_alter_table('checkin', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce_scope', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('checkin', schema=None) as batch_op:
        batch_op.drop_column('nonce_scope')
