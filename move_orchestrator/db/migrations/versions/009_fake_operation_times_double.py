"""fake_operations: started and ended in double precision

A FLOAT is single precision on MariaDB and MySQL: a time in seconds since
the epoch kept about two minutes of resolution there, and operations on one
instance that ran one after the other were flagged as overlapping.

Revision ID: 009
Revises: 008
Create Date: 2026-12-06 05:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '009'
down_revision = '008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('fake_operations') as batch_op:
        for column in ('started', 'ended'):
            batch_op.alter_column(column, existing_type=sa.Float(),
                                  type_=sa.Double(), existing_nullable=False)
