"""A simulated hypervisor whose world lives in the database.

Every host's domains, disks and live migrations are rows, so a
conductor that crashes finds the world as it left it, and the audit can
compare inventory and "hypervisor". Delays and faults are injected per
operation from ``[fake_driver]``.
"""

import hashlib
import os
import socket
import time

from oslo_db import exception as db_exc
import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import fake_migration
from move_orchestrator.drivers.compute import fake_operations
from move_orchestrator import exception
from move_orchestrator import faults


def _checksum(instance_uuid, image):
    return hashlib.sha256(('%s:%s' % (instance_uuid, image)).encode()
                          ).hexdigest()


class FakeDriver(fake_migration.FakeMigrationMixin, base.ComputeDriver):

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
        for _attempt in range(3):
            try:
                # One transaction for every scope: counted after the new
                # transfer's own commit, which is what orders two of them.
                with self._db.session() as s:
                    for scope, host, column in scopes:
                        q = sa.select(sa.func.count()).select_from(t)
                        if column is not None:
                            q = q.where(column == host)
                        if scope == 'source-live':
                            q = q.where(t.live.is_(True))
                        self._raise_peak(s, scope, host, s.scalar(q))
                break
            except (db_exc.DBDuplicateEntry, db_exc.DBDeadlock):
                # Another transfer made a row first, or (MariaDB) locked
                # the same peak rows in the other order: count again.
                continue

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
            migration = s.get(models.FakeMigration, instance_uuid)
            return {
                'domains': {d.host: {'state': d.state, 'vcpus': d.vcpus,
                                     'ram_mb': d.ram_mb} for d in domains},
                'disks': {d.host: {'size_gb': d.size_gb, 'image': d.image,
                                   'checksum': d.checksum} for d in disks},
                'migration': self._migration_dict(migration),
            }

    def _migration_dict(self, m):
        if m is None:
            return None
        result = dict({'id': m.migration_id, 'source': m.source_host,
                       'dest': m.dest_host,
                       'status': m.status, 'total_mb': m.total_mb,
                       'remaining_mb': m.remaining_mb}, **self._tuning_dict(m))
        if m.status == base.MIGRATION_FAILED:
            # The fake's one way to fail (fake_migration._switch_over).
            result['reason'] = 'a domain of the migration was gone at its switch-over'
        return result

    def list_domains(self):
        with self._db.reader() as s:
            return [(d.instance_uuid, d.host, d.state) for d in
                    s.scalars(sa.select(models.FakeDomain))]

    def list_disks(self):
        with self._db.reader() as s:
            return [(d.instance_uuid, d.host) for d in
                    s.scalars(sa.select(models.FakeDisk))]

    # -- life cycle -------------------------------------------------------------
    @fake_operations.operation
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

    @fake_operations.operation
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

    @fake_operations.operation
    def power_on(self, instance_uuid, host):
        self._set_power('power_on', instance_uuid, host, base.RUNNING)

    @fake_operations.operation
    def power_off(self, instance_uuid, host):
        self._set_power('power_off', instance_uuid, host, base.SHUTOFF)

    # -- storage ------------------------------------------------------------------
    @fake_operations.operation
    def create_disk(self, spec, host):
        with self._db.session() as s:
            if self._one(s, models.FakeDisk, spec['uuid'], host) is None:
                s.add(models.FakeDisk(
                    instance_uuid=spec['uuid'], host=host,
                    size_gb=spec['disk_gb'], image=spec['image'],
                    checksum=_checksum(spec['uuid'], spec['image'])))

    @fake_operations.operation
    def resize_disk(self, instance_uuid, host, size_gb, shrink=False):
        with self._db.session() as s:
            disk = self._one(s, models.FakeDisk, instance_uuid, host)
            if disk is None:
                self._fail('resize_disk', 'no disk for %s on %s'
                           % (instance_uuid, host))
            if size_gb < disk.size_gb and not shrink:
                self._fail('resize_disk', 'cannot shrink the disk of %s on %s '
                           'from %s to %s GB' % (instance_uuid, host,
                                                 disk.size_gb, size_gb))
            disk.size_gb = size_gb

    @fake_operations.operation
    def export_disk(self, instance_uuid, host):
        """The fake's export is the disk's row: its import reads it."""
        with self._db.reader() as s:
            disk = self._one(s, models.FakeDisk, instance_uuid, host)
            if disk is None:
                self._fail('export_disk', 'no disk for %s on %s'
                           % (instance_uuid, host))
            return {'host': host, 'uri': 'fake://%s/%s' % (host, instance_uuid),
                    'size_bytes': disk.size_gb << 30, 'image': disk.image}

    @fake_operations.operation
    def unexport_disk(self, instance_uuid, host):
        return False    # nothing runs for an export of the fake's

    @fake_operations.transferring
    @fake_operations.operation
    def import_disk(self, instance_uuid, host, export, size_gb):
        if self._transfer_time:
            time.sleep(self._transfer_time)
        with self._db.session() as s:
            src = self._one(s, models.FakeDisk, instance_uuid, export['host'])
            if src is None:
                self._fail('import_disk', 'the export of %s on %s is gone'
                           % (instance_uuid, export['host']))
            dst = self._one(s, models.FakeDisk, instance_uuid, host)
            if dst is None:
                dst = models.FakeDisk(instance_uuid=instance_uuid, host=host)
                s.add(dst)
            dst.size_gb, dst.image = size_gb, src.image
            dst.checksum = src.checksum

    @fake_operations.operation
    def delete_disk(self, instance_uuid, host):
        with self._db.session() as s:
            disk = self._one(s, models.FakeDisk, instance_uuid, host)
            if disk is None:
                return False
            s.delete(disk)
            return True

    # -- live resize (hotplug) ---------------------------------------------------
    def topology(self, instance_uuid, host):
        conf = self.conf.compute
        with self._db.reader() as s:
            dom = self._one(s, models.FakeDomain, instance_uuid, host)
            if dom is None or dom.state != base.RUNNING:
                return None
            return {'max_vcpus': max(dom.vcpus, conf.hotplug_max_vcpus),
                    'max_ram_mb': max(dom.ram_mb, conf.hotplug_max_ram_mb),
                    'free_slots': conf.hotplug_memory_slots}

    def _resize_running(self, operation, instance_uuid, host, vcpus, ram_mb,
                        grow):
        with self._db.session() as s:
            dom = self._one(s, models.FakeDomain, instance_uuid, host)
            if dom is None or dom.state != base.RUNNING:
                self._fail(operation, 'no running domain of %s on %s'
                           % (instance_uuid, host))
            for attr, want in (('vcpus', vcpus), ('ram_mb', ram_mb)):
                have = getattr(dom, attr)
                if want is None or (want <= have if grow else want >= have):
                    continue
                if not grow and self.conf.fake_driver.guest_keeps_hotplugged:
                    raise exception.HotUnplugRefused(
                        what=attr, instance=instance_uuid, host=host,
                        reason='the guest keeps them '
                               '([fake_driver] guest_keeps_hotplugged)')
                setattr(dom, attr, want)
            return {'vcpus': dom.vcpus, 'ram_mb': dom.ram_mb}

    @fake_operations.operation
    def hotplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        return self._resize_running('hotplug', instance_uuid, host, vcpus,
                                    ram_mb, grow=True)

    @fake_operations.operation
    def hot_unplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        return self._resize_running('hot_unplug', instance_uuid, host, vcpus,
                                    ram_mb, grow=False)
