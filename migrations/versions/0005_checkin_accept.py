"""checkin.accepts_id, checkin.note: staff accept a scan refused as wrong_day, with a reason

The acceptance is an ``ok`` row naming the refused scan (``accepts_id``) and the reason the
staff member gave (``note``). Rows written before have neither.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:33:08

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('checkin', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepts_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_checkin_accepts_id_checkin'), 'checkin',
                                    ['accepts_id'], ['id'])


def downgrade():
    with op.batch_alter_table('checkin', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_checkin_accepts_id_checkin'),
                                 type_='foreignkey')
        batch_op.drop_column('note')
        batch_op.drop_column('accepts_id')
