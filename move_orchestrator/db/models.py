"""SQLAlchemy models: the inventory, the move records and the fake hypervisor.

The fake driver's tables live here too so that its simulated world survives a
crash of the conductor exactly like a real hypervisor's would.
"""

import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy import orm


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


# MariaDB's DATETIME drops microseconds unless asked; histories need them.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql',
                                       'mariadb')


class Base(orm.DeclarativeBase):
    type_annotation_map = {dict: sa.JSON, datetime.datetime: Timestamp}


class TimestampMixin:
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=utcnow)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=utcnow, onupdate=utcnow)


class Host(TimestampMixin, Base):
    __tablename__ = 'hosts'
    # The state a host shows: down, else disabled (an operator's drain),
    # else up. Stored apart (state: up or down; disabled: the drain), so
    # that a drained host that goes down comes back drained.
    STATES = ('up', 'down', 'disabled')

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16), default='up')
    disabled: orm.Mapped[bool] = orm.mapped_column(default=False,
                                                   server_default=sa.false())

    @property
    def shown_state(self):
        return self.shown(self.state, self.disabled)

    @staticmethod
    def shown(state, disabled):
        """The state operators see: down, disabled or up."""
        if state == 'down':
            return 'down'
        return 'disabled' if disabled else 'up'
    vcpus: orm.Mapped[int]
    ram_mb: orm.Mapped[int]
    disk_gb: orm.Mapped[int]
    cpu_model: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    storage_group: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))


class Flavor(TimestampMixin, Base):
    __tablename__ = 'flavors'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    vcpus: orm.Mapped[int]
    ram_mb: orm.Mapped[int]
    disk_gb: orm.Mapped[int]


class Instance(TimestampMixin, Base):
    __tablename__ = 'instances'

    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    flavor: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    image: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    power_state: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    vm_state: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    move_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36),
                                                        index=True)
    project_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))


class Allocation(TimestampMixin, Base):
    """Resources a consumer (an instance, or a move's claim) holds on a host."""
    __tablename__ = 'allocations'
    __table_args__ = (sa.UniqueConstraint('consumer_uuid', 'host'),)

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    consumer_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       index=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    vcpus: orm.Mapped[int]
    ram_mb: orm.Mapped[int]
    disk_gb: orm.Mapped[int]


class Move(TimestampMixin, Base):
    """The task record of one move."""
    __tablename__ = 'moves'
    # Task lists are pages, newest first: read from this index, a page
    # costs its own rows, not a sort of every move the cloud ever made.
    __table_args__ = (sa.Index('ix_moves_created_at_id', 'created_at', 'id'),)

    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       index=True)
    type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    source_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    dest_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    old_flavor: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    new_flavor: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    live: orm.Mapped[bool] = orm.mapped_column(default=False)
    request_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255),
                                                           unique=True)
    request: orm.Mapped[dict] = orm.mapped_column(default=dict)
    # What the flows need besides the hosts: the old and new instance specs
    # and the power state before the move.
    params: orm.Mapped[dict] = orm.mapped_column(default=dict)
    ponr: orm.Mapped[bool] = orm.mapped_column(default=False)
    reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    failed_step: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    # Set by an operator's abort; the conductor running the move reverts it
    # at the next step (or poll) before the point of no return.
    abort_requested_by: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    project_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    finished_at: orm.Mapped[datetime.datetime | None]
    # When the move got its slot within the limits (conductor/admission);
    # until then it waits in "accepted", and ``waiting`` says for what.
    admitted_at: orm.Mapped[datetime.datetime | None]
    waiting: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # The drain this move is a child of, if any.
    drain_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36),
                                                         index=True)
    # The fencing token of the current claim on the move (one more at each
    # claim) and the conductor holding it: writes with an older token are
    # refused (db/fencing.py).
    generation: orm.Mapped[int] = orm.mapped_column(default=0,
                                                    server_default='0')
    conductor: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))


class AdmissionLock(Base):
    """One row, locked by every admission transaction: admissions by
    conductors of one database happen one after the other."""
    __tablename__ = 'admission_lock'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True,
                                            autoincrement=False)


class Drain(TimestampMixin, Base):
    """The task record of a host drain: a parent of moves."""
    __tablename__ = 'drains'

    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    live: orm.Mapped[bool | None]
    # The host was down: the children are evacuations.
    evacuate: orm.Mapped[bool] = orm.mapped_column(default=False)
    # Instances on the host when the drain started.
    total: orm.Mapped[int] = orm.mapped_column(default=0)
    # {instance uuid: why no move could be made for it}
    refused: orm.Mapped[dict] = orm.mapped_column(default=dict)
    reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # What keeps it from going on, when only something else can: an
    # instance another task moves.
    waiting: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    abort_requested_by: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    project_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    finished_at: orm.Mapped[datetime.datetime | None]


class DrainEvent(Base):
    """Append-only history of a drain: its state changes and actions."""
    __tablename__ = 'drain_events'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    drain_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey('drains.id', ondelete='CASCADE'),
        index=True)
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    detail: orm.Mapped[dict | None]
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    project_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=utcnow)


class MoveEvent(Base):
    """Append-only history: move state changes, sub-task changes, actions."""
    __tablename__ = 'move_events'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    move_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey('moves.id', ondelete='CASCADE'),
        index=True)
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    phase: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    progress: orm.Mapped[float | None]
    error: orm.Mapped[dict | None]
    detail: orm.Mapped[dict | None]
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    project_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=utcnow)


class FakeDomain(TimestampMixin, Base):
    __tablename__ = 'fake_domains'
    __table_args__ = (sa.UniqueConstraint('instance_uuid', 'host'),)

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       index=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    vcpus: orm.Mapped[int]
    ram_mb: orm.Mapped[int]


class FakeDisk(TimestampMixin, Base):
    __tablename__ = 'fake_disks'
    __table_args__ = (sa.UniqueConstraint('instance_uuid', 'host'),)

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       index=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    size_gb: orm.Mapped[int]
    image: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    checksum: orm.Mapped[str] = orm.mapped_column(sa.String(64))


class FakePortBinding(TimestampMixin, Base):
    __tablename__ = 'fake_port_bindings'
    __table_args__ = (sa.UniqueConstraint('instance_uuid', 'host'),)

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       index=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    active: orm.Mapped[bool] = orm.mapped_column(default=False)


class FakeMigration(TimestampMixin, Base):
    __tablename__ = 'fake_migrations'

    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       primary_key=True)
    source_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    dest_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    # The move it belongs to (start_migration's migration_id).
    migration_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    total_mb: orm.Mapped[int]
    remaining_mb: orm.Mapped[int]
    # The stall policy's actions (tune_migration): the CPU throttle and
    # what it grows by at each poll, post-copy, the source paused to finish.
    throttle_pct: orm.Mapped[int] = orm.mapped_column(default=0, server_default='0')
    throttle_step: orm.Mapped[int] = orm.mapped_column(default=0, server_default='0')
    postcopy: orm.Mapped[bool] = orm.mapped_column(default=False,
                                                   server_default=sa.false())
    paused: orm.Mapped[bool] = orm.mapped_column(default=False,
                                                 server_default=sa.false())


class FakeTransfer(Base):
    """A copy in flight between two hosts (a live migration, a disk copy):
    the fake driver counts them to record the peaks below."""
    __tablename__ = 'fake_transfers'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    source_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    dest_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    live: orm.Mapped[bool]


class FakeTransferPeak(Base):
    """The most transfers ever in flight at once: per source host
    (``source``, ``source-live``), per destination (``dest``) and in the
    whole cloud (``all``, host ``*``)."""
    __tablename__ = 'fake_transfer_peaks'
    __table_args__ = (sa.UniqueConstraint('scope', 'host'),)

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    scope: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    peak: orm.Mapped[int] = orm.mapped_column(default=0)


class FakeOperation(Base):
    """A finished fake driver operation on an instance, when it ran and
    who ran it ([fake_driver] record_operations); ``overlapped`` is set
    when another operation on the instance ran at the same time."""
    __tablename__ = 'fake_operations'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                       index=True)
    operation: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    runner: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    started: orm.Mapped[float] = orm.mapped_column(sa.Double)
    ended: orm.Mapped[float] = orm.mapped_column(sa.Double)
    overlapped: orm.Mapped[bool] = orm.mapped_column(default=False)
