"""moves.generation and moves.conductor: fencing token and claim holder

The generation is the fencing token of a move's current claim; the
conductor column names who holds it.

Every write of a move's records and atoms checks the generation in its own
transaction, so a conductor whose claim was taken over writes nothing more.

Revision ID: 006
Revises: 005
Create Date: 2026-12-03 15:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '006'
down_revision = '005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('moves') as batch_op:
        batch_op.add_column(sa.Column('generation', sa.Integer(),
                                      nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('conductor', sa.String(255),
                                      nullable=True))
