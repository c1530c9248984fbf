"""fake_migrations: the stall policy's actions on a fake live migration

CPU throttle, post-copy, guest paused to finish.

Revision ID: 008
Revises: 007
Create Date: 2026-12-03 18:10:00
"""

from alembic import op
import sqlalchemy as sa

revision = '008'
down_revision = '007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('fake_migrations') as batch_op:
        batch_op.add_column(sa.Column('throttle_pct', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('throttle_step', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('postcopy', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('paused', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
