"""Concurrency limits and drains as tasks

moves.admitted_at / waiting (admission within the limits), moves.drain_id,
the admission lock row, drains and their events, and the fake driver's
record of transfers in flight and their peaks.

Moves that had started before this revision hold their slot (admitted at
their creation); moves still "accepted" go through admission.

Revision ID: 005
Revises: 004
Create Date: 2026-12-03 15:10:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '005'
down_revision = '004'
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb') \
    .with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade():
    with op.batch_alter_table('moves') as batch_op:
        batch_op.add_column(sa.Column('admitted_at', TS, nullable=True))
        batch_op.add_column(sa.Column('waiting', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('drain_id', sa.String(36),
                                      nullable=True))
        batch_op.create_index('ix_moves_drain_id', ['drain_id'],
                              unique=False)
    moves = sa.table('moves', sa.column('state', sa.String),
                     sa.column('created_at', TS),
                     sa.column('admitted_at', TS))
    op.execute(moves.update().where(moves.c.state != 'accepted')
               .values(admitted_at=moves.c.created_at))

    lock = op.create_table(
        'admission_lock',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.bulk_insert(lock, [{'id': 1}])

    op.create_table(
        'drains',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        sa.Column('live', sa.Boolean(), nullable=True),
        sa.Column('evacuate', sa.Boolean(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('refused', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('waiting', sa.Text(), nullable=True),
        sa.Column('abort_requested_by', sa.String(255), nullable=True),
        sa.Column('user_id', sa.String(255), nullable=True),
        sa.Column('project_id', sa.String(255), nullable=True),
        sa.Column('finished_at', TS, nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('drains') as batch_op:
        batch_op.create_index('ix_drains_host', ['host'], unique=False)
        batch_op.create_index('ix_drains_state', ['state'], unique=False)

    op.create_table(
        'drain_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('drain_id', sa.String(36), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('user_id', sa.String(255), nullable=True),
        sa.Column('project_id', sa.String(255), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['drain_id'], ['drains.id'],
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('drain_events') as batch_op:
        batch_op.create_index('ix_drain_events_drain_id', ['drain_id'],
                              unique=False)

    op.create_table(
        'fake_transfers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('dest_host', sa.String(255), nullable=False),
        sa.Column('live', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_table(
        'fake_transfer_peaks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(16), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('peak', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('scope', 'host'))
