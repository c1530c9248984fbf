"""fake_operations: the fake driver's record of who ran what, and when

It catches two conductors running one move at once.

Revision ID: 007
Revises: 006
Create Date: 2026-12-03 15:15:00
"""

from alembic import op
import sqlalchemy as sa

revision = '007'
down_revision = '006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'fake_operations',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('operation', sa.String(64), nullable=False),
        sa.Column('runner', sa.String(255), nullable=False),
        sa.Column('started', sa.Float(), nullable=False),
        sa.Column('ended', sa.Float(), nullable=False),
        sa.Column('overlapped', sa.Boolean(), nullable=False))
    op.create_index('ix_fake_operations_instance_uuid', 'fake_operations',
                    ['instance_uuid'])
