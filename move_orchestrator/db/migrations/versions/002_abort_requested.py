"""moves.abort_requested_by: an operator's abort, durable across crashes

Revision ID: 002
Revises: 001
Create Date: 2026-11-24 08:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '002'
down_revision = '001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('moves') as batch_op:
        batch_op.add_column(sa.Column('abort_requested_by', sa.String(255),
                                      nullable=True))
