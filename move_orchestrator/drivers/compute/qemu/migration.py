"""Live migration over QMP, as libvirt drives it.

Both ends get ``postcopy-ram`` (unless ``[qemu] permit_post_copy`` is
false), the source ``pause-before-switchover``: a
converged migration stops at ``pre-switchover`` with the source paused, and
only ``migrate-continue`` hands the guest over, sent at once by the
migration's switch-over watcher (switchover.py), not by a conductor step;
complete_migration then only finishes the record (or continues, should the
watcher be gone). After
that the source stays ``postmigrate`` until cleanup destroys it, so a revert
before the PONR can still ``cont`` it. Hosts that do not share storage first
mirror the disk into an NBD export of the destination (``drive-mirror``);
the memory copy starts once the mirror is ready, and the mirror is finished
(``block-job-cancel`` of a ready job) while the source is paused.

The migration record (records.py) holds only what QEMU does not know;
the status comes from ``query-migrate`` on the source, and is written to
the record once final (completed, failed, cancelled). A migration to a destination that accepted it
(``accept_migration``, incoming.py) reaches it over the network only: its
stream and disk mirror go to the addresses the destination gave, and the
destination confirms the arrival itself (``confirm_incoming``).
"""

import os
import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import mirror
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import records
from move_orchestrator.drivers.compute.qemu import stall
from move_orchestrator.drivers.compute.qemu import waiting
from move_orchestrator.drivers.compute.qemu import watchers
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

MIB = 1 << 20
MIGRATIONS = records.MIGRATIONS
FINAL = waiting.FINAL
_ACTIVE = ('setup', 'active', 'pre-switchover', 'device', 'postcopy-active',
           'postcopy-paused', 'postcopy-recover', 'wait-unplug')
PAST_CONTINUE = ('device', 'postcopy-active', 'postcopy-paused', 'postcopy-recover')
UNLIMITED_BANDWIDTH = 1 << 40


def _not_running(source):
    raise exception.DriverError(operation='start_migration', reason='source '
                                'domain on %s is not running' % source)


def _total(rec):
    return rec['ram_mb'] + rec['disk_bytes'] / MIB


class MigrationMixin(waiting.WaitMixin, records.RecordsMixin):
    """Live migration operations of QemuDriver."""

    def _ends(self, rec, instance_uuid):
        return (self._domain(instance_uuid, rec['source']),
                self._domain(instance_uuid, rec['dest']))

    def _uri(self, rec, dst):
        if rec.get('incoming'):
            return rec['incoming']['uri']
        return 'unix:' + dst.path('migrate.sock')

    # -- operations ---------------------------------------------------------
    def prepare_incoming(self, spec, host):
        uuid = spec['uuid']
        self._make_incoming_disk(spec, host)
        dom = self._domain(uuid, host)
        status = dom.status()
        if status == 'inmigrate':
            return
        if status is not None:
            raise exception.DriverError(
                operation='prepare_incoming', reason='a %s domain of %s already '
                'exists on %s' % (status, uuid, host))
        os.makedirs(dom.dir, exist_ok=True)
        self._mark_user(uuid, host, True)
        dom.write_definition({'spec': spec, 'incoming': True})
        # A disk the source mirrors into (``disk_bytes``: not shared) is
        # written through an NBD export until the switch-over. QEMU takes
        # back the guest disk's exclusive write as the guest starts, and
        # cannot while the export is there (it reports a conflict and leaves
        # the write shared, the image's lock weakened): so the guest waits,
        # and runs once the export is gone (destination.run_arrived).
        self._start(dom, incoming=True, hold=bool(spec.get('disk_bytes')))

    def start_migration(self, instance_uuid, source, dest, migration_id=None,
                        incoming=None):
        rec = self._record(instance_uuid)
        if rec and self.poll_migration(instance_uuid, act=False)['status'] in \
                base.MIGRATION_ACTIVE:
            if (rec['source'], rec['dest'], rec.get('id')) == (source, dest, migration_id):
                self._keep_watched(instance_uuid)    # a re-run after a crash
                return self.poll_migration(instance_uuid)
            raise exception.DriverError(
                operation='start_migration', reason='a migration of %s from %s to %s '
                '(%s) is in progress' % (instance_uuid, rec['source'], rec['dest'],
                                         rec.get('id') or 'no id'))
        src = self._domain(instance_uuid, source)
        dst = self._domain(instance_uuid, dest)
        if src.pid() is None:
            _not_running(source)
        seen = None
        # One session on the source from its check to the copy's first
        # figures: each connection costs its main loop a handshake.
        with src.qmp() as q:
            if q.execute('query-status')['status'] != 'running':
                _not_running(source)
            rec = self._new_record(instance_uuid, src, dst, migration_id, incoming)
            self._save(instance_uuid, rec)
            # The switch-over watcher starts while the source is readied
            # (it follows the record just written); it listens before the
            # copy starts, and continues it at convergence.
            watcher = watchers.start_switchover(
                src, None if incoming else dst,
                self._record_path(instance_uuid, source), migration_id,
                self.opts.operation_timeout)
            try:
                self._ready_source(q, dst, rec, incoming)
                # Written down with the copy's start (_maybe_migrate): a
                # re-run before that finds it by its log (_keep_watched).
                rec['watcher'] = watchers.listening(watcher)
                self._maybe_migrate(q, instance_uuid, rec, dst)
                if rec['migrate_started']:
                    # What the answer's poll reads, on this session.
                    seen = self._read_source(q, instance_uuid, rec, dst, act=False)
            finally:
                watchers.listening(watcher)   # after an error: reaped all the same
        LOG.info('Live migration of %s from %s to %s started%s', instance_uuid,
                 source, dest, ' with a disk mirror' if rec['block'] else '')
        return self.poll_migration(instance_uuid, seen=seen)

    def _new_record(self, instance_uuid, src, dst, migration_id, incoming):
        """The record of a migration about to start, once its ends are
        fit for it (the source checked running)."""
        source, dest = src.host, dst.host
        block = not self.shares_storage(source, dest)
        if incoming is None and dst.status() != 'inmigrate':
            raise exception.DriverError(operation='start_migration', reason='destination '
                                        'on %s is not waiting for a migration' % dest)
        if incoming is not None and block and not incoming.get('nbd'):
            raise exception.DriverError(operation='start_migration', reason='destination '
                                        '%s gave no disk target to mirror into' % dest)
        spec = src.read_definition()['spec']
        return {'id': migration_id, 'source': source, 'dest': dest, 'block': block,
                'status': base.MIGRATION_RUNNING, 'started_at': time.time(),
                'ram_mb': spec['ram_mb'], 'migrate_started': False,
                'postcopy_permitted': self.opts.permit_post_copy,
                'continued': False, 'job': 'mirror-%s' % instance_uuid[:8],
                'incoming': incoming,
                'disk_bytes': (self.img.virtual_size(self.disk_path(instance_uuid, source))
                               if block else 0)}

    def _ready_source(self, q, dst, rec, incoming):
        """The migration's capabilities and parameters (and a destination
        prepared, not accepted, made to listen)."""
        if incoming is None:
            self._listen(dst, rec)
        bandwidth = self.opts.max_bandwidth * MIB or UNLIMITED_BANDWIDTH
        q.execute('migrate-set-capabilities', capabilities=[
            {'capability': 'postcopy-ram', 'state': rec['postcopy_permitted']},
            {'capability': 'pause-before-switchover', 'state': True},
            {'capability': 'events', 'state': True}, stall.CAPABILITY])
        q.execute('migrate-set-parameters', **dict(
            stall.HELD, **{'max-bandwidth': bandwidth,
                           'downtime-limit': self.opts.downtime_limit_ms}))

    def _listen(self, dst, rec):
        """A destination prepared, not accepted (an agent before 1.7): it
        is made to listen from here, which needs its files."""
        with dst.qmp() as q:
            q.execute('migrate-set-capabilities', capabilities=[
                {'capability': 'postcopy-ram', 'state': rec['postcopy_permitted']},
                {'capability': 'events', 'state': True}])
            if rec['block']:
                mirror.export_disk(q, dst)
            # Asked, not told by an error's text: listening already after a
            # crash, the destination reports the incoming migration's status.
            if 'status' not in q.execute('query-migrate'):
                q.execute('migrate-incoming', uri=self._uri(rec, dst))

    def _keep_watched(self, instance_uuid):
        """Start the migration's switch-over watcher again if it is gone
        (one that lives, not written down yet, is written down). The record
        as the poll before left it: it writes what QEMU did unrecorded."""
        rec = self._record(instance_uuid)
        path = self._record_path(instance_uuid, rec['source'])
        if rec.get('continued') or watchers.alive(rec.get('watcher'), path):
            return
        rec['watcher'] = watchers.switchover_watcher(path)
        if rec['watcher'] is None:
            src, dst = self._ends(rec, instance_uuid)
            rec['watcher'] = watchers.spawn_switchover(
                src, None if rec.get('incoming') else dst, path, rec.get('id'),
                self.opts.operation_timeout)
        self._save(instance_uuid, rec)

    def _maybe_migrate(self, q, instance_uuid, rec, dst):
        """Start the memory copy once the disk mirror (if any) is ready."""
        if rec['migrate_started']:
            return
        if rec['block']:
            self._start_mirror(q, instance_uuid, rec, dst)
            jobs = {j['device']: j for j in q.execute('query-block-jobs')}
            job = jobs.get(rec['job'])
            if job is None or not job.get('ready'):
                return
        q.execute('migrate', uri=self._uri(rec, dst))
        rec['migrate_started'] = True
        self._save(instance_uuid, rec)

    def _start_mirror(self, q, instance_uuid, rec, dst):
        """Start the disk mirror unless it runs; recorded once it does, so
        that a poll from elsewhere in between does not take the job's
        absence for a failed mirror, and a re-run after a crash starts it."""
        if rec.get('mirror_started'):
            return
        # A job of that name now is an earlier attempt's (or this one's,
        # from a process that died before writing it down): its target may
        # be gone, so start over rather than follow it.
        mirror.drop(q, rec, deadline=time.monotonic() + self.opts.operation_timeout)
        mirror.start(q, rec['job'], mirror.target(rec, dst))
        rec['mirror_started'] = True
        self._save(instance_uuid, rec)

    def _finish(self, instance_uuid, rec, status, error=None):
        rec['status'] = status
        if error:
            rec['error'] = error
        self._save(instance_uuid, rec)

    def poll_migration(self, instance_uuid, act=True, seen=None, source=None):
        """The migration's state, read from QEMU.

        With ``act`` (a poll, not a describe) it also moves the migration
        on: starts the memory copy once the mirror is ready, and applies the
        completion timeout. ``seen``: what the source said a moment ago
        (_read_source, by wait_migration on its own session), read instead.
        """
        rec = self._record(instance_uuid)
        if rec is None:
            return None
        total = _total(rec)
        result = {'id': rec.get('id'), 'source': rec['source'], 'dest': rec['dest'],
                  'status': rec['status'], 'started_at': rec['started_at'],
                  'total_mb': total, 'remaining_mb': total,
                  'postcopy': rec.get('postcopy', False),
                  'postcopy_permitted': rec.get('postcopy_permitted', True),
                  'paused': rec.get('paused', False)}
        if rec['status'] in FINAL:
            result['remaining_mb'] = 0 if rec['status'] == base.MIGRATION_COMPLETED else total
            if rec.get('error'):
                result['reason'] = rec['error']
            for key in ('downtime_ms', 'total_time_ms', 'transferred_mb',
                        'guest_pause_ms', 'switchover_wait_ms', 'stopped_at'):
                if rec.get(key) is not None:
                    result[key] = rec[key]
            return result
        src, dst = self._ends(rec, instance_uuid)
        if src.pid() is None:
            # The source is gone: the guest lives on only if the destination runs.
            if rec['continued'] and self._arrived(rec, dst):
                self._finish(instance_uuid, rec, base.MIGRATION_COMPLETED)
            else:
                self._finish(instance_uuid, rec, base.MIGRATION_FAILED,
                             'the source QEMU process ended')
            return self.poll_migration(instance_uuid, act=False)
        if seen is None or not rec['migrate_started']:
            with src.qmp() as q:
                seen = self._read_source(q, instance_uuid, rec, dst, act)
        info, jobs = seen
        qstatus = info.get('status', 'none')
        result.update(self._copy_figures(rec, info, jobs), qemu_status=qstatus)
        if qstatus in ('pre-switchover',) + PAST_CONTINUE:
            result['status'] = base.MIGRATION_READY
        elif qstatus == 'completed':
            done = self._arrived(rec, dst)
            result['status'] = base.MIGRATION_COMPLETED if done else base.MIGRATION_READY
        elif qstatus in ('failed', 'cancelled'):
            status = (base.MIGRATION_CANCELLED if qstatus == 'cancelled'
                      else base.MIGRATION_FAILED)
            if rec['block']:
                # The memory copy ended (its destination died, say): so
                # does the mirror into that destination's disk, which would
                # otherwise hold the source's disk until the next attempt.
                try:
                    with src.qmp() as q:
                        mirror.drop(q, rec, time.monotonic() + self.opts.operation_timeout)
                except (qmp.QMPError, exception.DriverError) as e:
                    LOG.warning('Live migration of %s %s; its disk mirror could not be '
                                'cancelled: %s', instance_uuid, qstatus, e)
                self._stop_target(rec, dst)
            if rec.get('paused'):
                self._resume_source(src, instance_uuid)
            self._finish(instance_uuid, rec, status, info.get('error-desc'))
            result['status'] = status
            if info.get('error-desc'):
                result['reason'] = info['error-desc']
        elif (rec['block'] and rec.get('mirror_started') and not rec.get('mirror_done')
              and not any(j['device'] == rec['job'] for j in jobs)
              and not self._converged_since(src, rec)):
            # The mirror failed: the destination's disk is not a copy, so
            # the memory copy must not complete either.
            LOG.warning('Disk mirror of %s ended before the switch-over: cancelling '
                        'its live migration', instance_uuid)
            self._cancel(instance_uuid, rec, base.MIGRATION_FAILED, 'the disk mirror ended')
            result.update(status=base.MIGRATION_FAILED, reason='the disk mirror ended')
        if act and result['status'] == base.MIGRATION_RUNNING:
            return self._check_timeout(instance_uuid, rec, result)
        return result

    @staticmethod
    def _copy_figures(rec, info, jobs):
        """What poll_migration says of the copy, from the source's answers
        (query-migrate, the block jobs); wait_migration's passes too."""
        ram = info.get('ram') or {}
        remaining = (ram['remaining'] / MIB if 'remaining' in ram else rec['ram_mb'])
        for job in jobs:
            if job['device'] == rec['job']:
                remaining += (job['len'] - job['offset']) / MIB
        return dict(remaining_mb=round(remaining, 3), total_mb=_total(rec),
                    transferred_mb=round(ram.get('transferred', 0) / MIB, 3),
                    dirty_pages_rate=ram.get('dirty-pages-rate', 0),
                    **stall.figures(info))

    def _read_source(self, q, instance_uuid, rec, dst, act):
        """(query-migrate, block jobs) of a poll, on an open session."""
        info = q.execute('query-migrate')
        if not rec['migrate_started']:
            if info.get('status') in _ACTIVE:
                # Issued by a process that died before writing it down.
                rec['migrate_started'] = True
                self._save(instance_uuid, rec)
            else:
                info = {}    # what QEMU says is about an earlier attempt
                if act:
                    self._maybe_migrate(q, instance_uuid, rec, dst)
        jobs = q.execute('query-block-jobs') if rec['block'] else []
        return info, jobs

    @staticmethod
    def _converged_since(src, rec):
        """Whether the source reached its switch-over since the poll asked:
        the watcher ends the mirror there, so a mirror gone is no failure."""
        if not rec['migrate_started']:
            return False
        with src.qmp() as q:
            return q.execute('query-migrate').get('status') not in ('setup', 'active')

    def _arrived(self, rec, dst):
        """Whether the guest runs on the destination, as far as the source
        can tell: one that accepted the migration is not looked at from
        here (it confirms the arrival itself, confirm_incoming)."""
        return bool(rec.get('incoming')) or self._dest_done(dst)

    @staticmethod
    def _stop_target(rec, dst):
        """The NBD export of a prepared destination; an accepted one's
        ends with its QEMU, or at its confirm_incoming."""
        if not rec.get('incoming'):
            mirror.stop_nbd(dst)

    @staticmethod
    def _dest_done(dst):
        """The destination runs and has received everything.

        The source says ``completed`` a few ms before the destination runs,
        and after a post-copy the destination still pulls pages: ask it.
        """
        if dst.pid() is None:
            return False
        try:
            with dst.qmp() as q:
                return (q.execute('query-status')['status'] == 'running'
                        and q.execute('query-migrate').get('status') == 'completed')
        except qmp.QMPError:
            return False
