"""A simulated hypervisor whose world lives in the database.

Every host's domains, disks, port bindings and live migrations are rows, so a
conductor that crashes finds the world as it left it, and the audit can
compare inventory and "hypervisor". Delays and faults are injected per
operation from ``[fake_driver]``.
"""

import functools
import hashlib
import inspect
import os
import socket
import time

from oslo_db import exception as db_exc
import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from move_orchestrator.drivers.compute import base
from move_orchestrator import exception
from move_orchestrator import faults


def _operation(func):
    """Apply delay and faults (``op`` or ``op@host``) before the operation.

    The host of a fault is the operation's ``host`` argument, or ``dest``
    for the ones that act on two hosts.
    """
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        host = bound.get('host') or bound.get('dest')
        name = func.__name__
        started = time.time()
        faults.maybe_trigger(self._faults, '%s@%s' % (name, host), name)
        if self._delay:
            time.sleep(self._delay)
        result = func(self, *args, **kwargs)
        if self._record:
            spec = bound.get('spec') or {}
            self._record_operation(bound.get('instance_uuid')
                                   or spec.get('uuid'), name, started)
        return result
    return wrapper


def _transferring(func):
    """A disk copy between two hosts is a transfer in flight while it
    runs (its delay included)."""
    @functools.wraps(func)
    def wrapper(self, instance_uuid, source, dest, *args, **kwargs):
        if source == dest:
            return func(self, instance_uuid, source, dest, *args, **kwargs)
        with self._db.session() as s:
            row = models.FakeTransfer(instance_uuid=instance_uuid,
                                      source_host=source, dest_host=dest,
                                      live=False)
            s.add(row)
        self._record_peaks(source, dest, False)
        try:
            return func(self, instance_uuid, source, dest, *args, **kwargs)
        finally:
            with self._db.session() as s:
                s.execute(sa.delete(models.FakeTransfer).filter_by(
                    id=row.id))
    return wrapper


def _checksum(instance_uuid, image):
    return hashlib.sha256(('%s:%s' % (instance_uuid, image)).encode()
                          ).hexdigest()


class FakeDriver(base.ComputeDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self._faults = faults.parse(conf.fake_driver.faults)
        self._delay = conf.fake_driver.operation_delay
        self._steps = conf.fake_driver.migration_steps
        self._transfer_time = conf.fake_driver.transfer_time
        self._db = db_session.get_database(conf.database.connection)
        self._record = conf.fake_driver.record_operations
        self._runner = '%s.%d' % (socket.gethostname(), os.getpid())

    def _record_operation(self, instance_uuid, name, started):
        """Durably: this operation ran from ``started`` to now, and whether
        another one on the instance ran meanwhile (the earlier of two
        overlapping operations is flagged by the later one)."""
        if instance_uuid is None:
            return
        ended = time.time()
        ops = models.FakeOperation
        with self._db.session() as s:
            others = s.scalars(sa.select(ops).where(
                ops.instance_uuid == instance_uuid, ops.ended > started,
                ops.started < ended)).all()
            for other in others:
                other.overlapped = True
            s.add(ops(instance_uuid=instance_uuid, operation=name,
                      runner=self._runner, started=started, ended=ended,
                      overlapped=bool(others)))

    def overlapping_operations(self):
        """(instance, operation, runner, started, ended) of every recorded
        operation that overlapped another on its instance."""
        ops = models.FakeOperation
        with self._db.session() as s:
            return [(o.instance_uuid, o.operation, o.runner, o.started,
                     o.ended) for o in s.scalars(sa.select(ops).where(
                         ops.overlapped.is_(True)).order_by(ops.started))]

    # -- helpers ------------------------------------------------------------
    @staticmethod
    def _one(session, model, instance_uuid, host):
        return session.scalars(sa.select(model).filter_by(
            instance_uuid=instance_uuid, host=host)).first()

    @staticmethod
    def _fail(operation, reason):
        raise exception.DriverError(operation=operation, reason=reason)

    # -- transfers in flight, and their peaks ----------------------------------
    def _record_peaks(self, source, dest, live):
        """Count what is in flight now, after the new transfer committed:
        of two overlapping transfers the later one counts both."""
        t = models.FakeTransfer
        scopes = [('all', '*', None), ('source', source, t.source_host),
                  ('dest', dest, t.dest_host)]
        if live:
            scopes.append(('source-live', source, t.source_host))
        for scope, host, column in scopes:
            q = sa.select(sa.func.count()).select_from(t)
            if column is not None:
                q = q.where(column == host)
            if scope == 'source-live':
                q = q.where(t.live.is_(True))
            for _attempt in range(3):
                try:
                    with self._db.session() as s:
                        self._raise_peak(s, scope, host, s.scalar(q))
                    break
                except db_exc.DBDuplicateEntry:
                    continue   # another transfer made the row first

    @staticmethod
    def _raise_peak(session, scope, host, count):
        peak = models.FakeTransferPeak
        res = session.execute(sa.update(peak).where(
            peak.scope == scope, peak.host == host,
            peak.peak < count).values(peak=count))
        if res.rowcount == 0 and session.scalars(sa.select(peak).filter_by(
                scope=scope, host=host)).first() is None:
            session.add(peak(scope=scope, host=host, peak=count))
            session.flush()

    def transfer_peaks(self):
        """{(scope, host): the most transfers in flight at once}"""
        with self._db.session() as s:
            return {(p.scope, p.host): p.peak for p in
                    s.scalars(sa.select(models.FakeTransferPeak))}

    @staticmethod
    def _end_transfer(session, instance_uuid):
        session.execute(sa.delete(models.FakeTransfer).filter_by(
            instance_uuid=instance_uuid, live=True))

    # -- reading the world ----------------------------------------------------
    def describe(self, instance_uuid):
        with self._db.reader() as s:
            domains = s.scalars(sa.select(models.FakeDomain).filter_by(
                instance_uuid=instance_uuid)).all()
            disks = s.scalars(sa.select(models.FakeDisk).filter_by(
                instance_uuid=instance_uuid)).all()
            bindings = s.scalars(sa.select(models.FakePortBinding).filter_by(
                instance_uuid=instance_uuid)).all()
            migration = s.get(models.FakeMigration, instance_uuid)
            return {
                'domains': {d.host: {'state': d.state, 'vcpus': d.vcpus,
                                     'ram_mb': d.ram_mb} for d in domains},
                'disks': {d.host: {'size_gb': d.size_gb, 'image': d.image,
                                   'checksum': d.checksum} for d in disks},
                'bindings': {b.host: b.active for b in bindings},
                'migration': self._migration_dict(migration),
            }

    @staticmethod
    def _migration_dict(m):
        if m is None:
            return None
        return {'id': m.migration_id, 'source': m.source_host,
                'dest': m.dest_host,
                'status': m.status, 'total_mb': m.total_mb,
                'remaining_mb': m.remaining_mb}

    def list_domains(self):
        with self._db.reader() as s:
            return [(d.instance_uuid, d.host, d.state) for d in
                    s.scalars(sa.select(models.FakeDomain))]

    def list_disks(self):
        with self._db.reader() as s:
            return [(d.instance_uuid, d.host) for d in
                    s.scalars(sa.select(models.FakeDisk))]

    # -- life cycle -------------------------------------------------------------
    @_operation
    def spawn(self, spec, host, power_on=True):
        with self._db.session() as s:
            if self._one(s, models.FakeDisk, spec['uuid'], host) is None:
                self._fail('spawn', 'no disk for %s on %s'
                           % (spec['uuid'], host))
            dom = self._one(s, models.FakeDomain, spec['uuid'], host)
            if dom is None:
                dom = models.FakeDomain(instance_uuid=spec['uuid'], host=host)
                s.add(dom)
            dom.vcpus, dom.ram_mb = spec['vcpus'], spec['ram_mb']
            dom.state = base.RUNNING if power_on else base.SHUTOFF

    @_operation
    def destroy(self, instance_uuid, host):
        with self._db.session() as s:
            dom = self._one(s, models.FakeDomain, instance_uuid, host)
            if dom is None:
                return False
            s.delete(dom)
            return True

    def _set_power(self, operation, instance_uuid, host, state):
        with self._db.session() as s:
            dom = self._one(s, models.FakeDomain, instance_uuid, host)
            if dom is None:
                self._fail(operation, 'no domain for %s on %s'
                           % (instance_uuid, host))
            if dom.state == base.INCOMING:
                self._fail(operation, 'domain on %s is waiting for a '
                           'migration' % host)
            dom.state = state

    @_operation
    def power_on(self, instance_uuid, host):
        self._set_power('power_on', instance_uuid, host, base.RUNNING)

    @_operation
    def power_off(self, instance_uuid, host):
        self._set_power('power_off', instance_uuid, host, base.SHUTOFF)

    # -- storage ------------------------------------------------------------------
    @_operation
    def create_disk(self, spec, host):
        with self._db.session() as s:
            if self._one(s, models.FakeDisk, spec['uuid'], host) is None:
                s.add(models.FakeDisk(
                    instance_uuid=spec['uuid'], host=host,
                    size_gb=spec['disk_gb'], image=spec['image'],
                    checksum=_checksum(spec['uuid'], spec['image'])))

    @_transferring
    @_operation
    def copy_disk(self, instance_uuid, source, dest, size_gb):
        if self._transfer_time and source != dest:
            time.sleep(self._transfer_time)
        with self._db.session() as s:
            src = self._one(s, models.FakeDisk, instance_uuid, source)
            if src is None:
                self._fail('copy_disk', 'no disk for %s on %s'
                           % (instance_uuid, source))
            if source == dest:
                src.size_gb = size_gb
                return
            dst = self._one(s, models.FakeDisk, instance_uuid, dest)
            if dst is None:
                dst = models.FakeDisk(instance_uuid=instance_uuid, host=dest)
                s.add(dst)
            dst.size_gb, dst.image = size_gb, src.image
            dst.checksum = src.checksum

    @_operation
    def delete_disk(self, instance_uuid, host):
        with self._db.session() as s:
            disk = self._one(s, models.FakeDisk, instance_uuid, host)
            if disk is None:
                return False
            s.delete(disk)
            return True

    # -- live migration -----------------------------------------------------------
    @_operation
    def prepare_incoming(self, spec, host):
        with self._db.session() as s:
            # An earlier move's finished migration stays on record until
            # the next start_migration, as QEMU's does.
            if self._one(s, models.FakeDisk, spec['uuid'], host) is None:
                src = s.scalars(sa.select(models.FakeDisk).filter_by(
                    instance_uuid=spec['uuid'])).first()
                if src is None:
                    self._fail('prepare_incoming', 'instance %s has no disk'
                               % spec['uuid'])
                s.add(models.FakeDisk(
                    instance_uuid=spec['uuid'], host=host,
                    size_gb=src.size_gb, image=src.image,
                    checksum=src.checksum))
            dom = self._one(s, models.FakeDomain, spec['uuid'], host)
            if dom is None:
                s.add(models.FakeDomain(
                    instance_uuid=spec['uuid'], host=host,
                    state=base.INCOMING, vcpus=spec['vcpus'],
                    ram_mb=spec['ram_mb']))
            elif dom.state != base.INCOMING:
                self._fail('prepare_incoming', 'a %s domain of %s already '
                           'exists on %s' % (dom.state, spec['uuid'], host))

    @_operation
    def start_migration(self, instance_uuid, source, dest, migration_id=None):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is not None and mig.status in base.MIGRATION_ACTIVE:
                if (mig.source_host, mig.dest_host, mig.migration_id) == (
                        source, dest, migration_id):
                    return
                self._fail('start_migration', 'a migration of %s from %s to %s '
                           '(%s) is in progress' % (instance_uuid, mig.source_host,
                                                    mig.dest_host,
                                                    mig.migration_id or 'no id'))
            src = self._one(s, models.FakeDomain, instance_uuid, source)
            dst = self._one(s, models.FakeDomain, instance_uuid, dest)
            if src is None or src.state != base.RUNNING:
                self._fail('start_migration', 'source domain on %s is not '
                           'running' % source)
            if dst is None or dst.state != base.INCOMING:
                self._fail('start_migration', 'destination on %s is not '
                           'waiting for a migration' % dest)
            if mig is not None:
                s.delete(mig)
                s.flush()
            self._end_transfer(s, instance_uuid)
            s.add(models.FakeMigration(
                instance_uuid=instance_uuid, source_host=source,
                dest_host=dest, migration_id=migration_id,
                status=base.MIGRATION_RUNNING,
                total_mb=src.ram_mb, remaining_mb=src.ram_mb))
            s.add(models.FakeTransfer(instance_uuid=instance_uuid,
                                      source_host=source, dest_host=dest,
                                      live=True))
        self._record_peaks(source, dest, True)

    @_operation
    def poll_migration(self, instance_uuid):
        """Each poll copies 1/steps of the memory, then waits to switch."""
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is not None and mig.status == base.MIGRATION_RUNNING:
                if self._transfer_time:
                    # Started at created_at (a durable clock: a restarted
                    # conductor finds it as far along as it should be).
                    elapsed = (models.utcnow() - mig.created_at
                               ).total_seconds()
                    left = max(0.0, 1.0 - elapsed / self._transfer_time)
                    mig.remaining_mb = int(mig.total_mb * left)
                else:
                    step = max(1, -(-mig.total_mb // self._steps))
                    mig.remaining_mb = max(0, mig.remaining_mb - step)
                if mig.remaining_mb == 0:
                    mig.status = base.MIGRATION_READY
            return self._migration_dict(mig)

    @_operation
    def cancel_migration(self, instance_uuid):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is None or mig.status not in base.MIGRATION_ACTIVE:
                return False
            mig.status = base.MIGRATION_CANCELLED
            self._end_transfer(s, instance_uuid)
            return True

    @_operation
    def force_complete_migration(self, instance_uuid):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is None or mig.status not in base.MIGRATION_ACTIVE:
                self._fail('force_complete_migration',
                           'no migration of %s in progress' % instance_uuid)
            mig.remaining_mb = 0
            mig.status = base.MIGRATION_READY

    @_operation
    def complete_migration(self, instance_uuid):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is not None and mig.status == base.MIGRATION_COMPLETED:
                return
            if mig is None or mig.status != base.MIGRATION_READY:
                self._fail('complete_migration', 'migration of %s has not '
                           'converged' % instance_uuid)
            src = self._one(s, models.FakeDomain, instance_uuid,
                            mig.source_host)
            dst = self._one(s, models.FakeDomain, instance_uuid,
                            mig.dest_host)
            if src is None or dst is None:
                self._fail('complete_migration', 'a domain disappeared')
            src.state, dst.state = base.PAUSED, base.RUNNING
            mig.status = base.MIGRATION_COMPLETED
            self._end_transfer(s, instance_uuid)

    # -- network ---------------------------------------------------------------------
    @_operation
    def bind_ports(self, instance_uuid, host):
        with self._db.session() as s:
            if self._one(s, models.FakePortBinding, instance_uuid,
                         host) is None:
                s.add(models.FakePortBinding(instance_uuid=instance_uuid,
                                             host=host, active=False))

    @_operation
    def activate_binding(self, instance_uuid, host):
        with self._db.session() as s:
            bindings = s.scalars(sa.select(models.FakePortBinding).filter_by(
                instance_uuid=instance_uuid)).all()
            if not any(b.host == host for b in bindings):
                self._fail('activate_binding', 'no binding of %s on %s'
                           % (instance_uuid, host))
            for b in bindings:
                b.active = b.host == host

    @_operation
    def unbind_ports(self, instance_uuid, host):
        with self._db.session() as s:
            binding = self._one(s, models.FakePortBinding, instance_uuid,
                                host)
            if binding is None:
                return False
            s.delete(binding)
            return True
