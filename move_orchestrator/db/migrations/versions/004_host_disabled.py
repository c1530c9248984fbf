"""hosts.disabled: an operator's drain, kept apart from up/down

A disabled host that went down and whose agent came back was up again: the
drain was lost with the one state column.

Revision ID: 004
Revises: 003
Create Date: 2026-12-02 19:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '004'
down_revision = '003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hosts') as batch_op:
        batch_op.add_column(sa.Column('disabled', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    hosts = sa.table('hosts', sa.column('state', sa.String),
                     sa.column('disabled', sa.Boolean))
    op.execute(hosts.update().where(hosts.c.state == 'disabled')
               .values(state='up', disabled=True))
