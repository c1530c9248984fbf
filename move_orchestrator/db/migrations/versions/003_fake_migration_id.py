"""fake_migrations.migration_id: the move a fake migration belongs to

An instance's last migration stays on record after it ends; without the id
a later move between the same hosts took it for its own.

Revision ID: 003
Revises: 002
Create Date: 2026-12-02 18:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '003'
down_revision = '002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('fake_migrations') as batch_op:
        batch_op.add_column(sa.Column('migration_id', sa.String(36),
                                      nullable=True))
