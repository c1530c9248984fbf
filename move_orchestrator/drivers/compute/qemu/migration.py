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

The migration record (``_migrations/<uuid>.json``) holds only what QEMU does
not know (hosts, start time, steps taken); the status comes from
``query-migrate`` on the source and ``query-status`` on the destination, and
is written to the record once final (completed, failed, cancelled).
"""

import os
import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import mirror
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import stall
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

MIB = 1 << 20
FINAL = (base.MIGRATION_COMPLETED, base.MIGRATION_FAILED, base.MIGRATION_CANCELLED)
_ACTIVE = ('setup', 'active', 'pre-switchover', 'device', 'postcopy-active',
           'postcopy-paused', 'postcopy-recover', 'wait-unplug')
PAST_CONTINUE = ('device', 'postcopy-active', 'postcopy-paused', 'postcopy-recover')
UNLIMITED_BANDWIDTH = 1 << 40
# What ends a wait_migration early: a status change, a new pass over the
# memory (its remaining bytes are the stall policy's measure), a disk
# mirror's news.
_WAKE_EVENTS = ('MIGRATION', 'MIGRATION_PASS', 'BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED',
                'BLOCK_JOB_ERROR', 'BLOCK_JOB_CANCELLED')


class MigrationMixin:
    """Live migration operations of QemuDriver."""

    # -- record -------------------------------------------------------------
    def _record_path(self, instance_uuid):
        return os.path.join(self.root, '_migrations', instance_uuid + '.json')

    def _record(self, instance_uuid):
        return process.read_json(self._record_path(instance_uuid))

    def _save(self, instance_uuid, rec):
        os.makedirs(os.path.dirname(self._record_path(instance_uuid)), exist_ok=True)
        process.write_json(self._record_path(instance_uuid), rec)

    def _ends(self, rec, instance_uuid):
        return (self._domain(instance_uuid, rec['source']),
                self._domain(instance_uuid, rec['dest']))

    def _uri(self, dst):
        return 'unix:' + dst.path('migrate.sock')

    # -- operations ---------------------------------------------------------
    def prepare_incoming(self, spec, host):
        uuid = spec['uuid']
        path = self.disk_path(uuid, host)
        if not os.path.exists(path):
            # The mirror's target, as large as the source says its disk is.
            if not spec.get('disk_bytes'):
                raise exception.DriverError(
                    operation='prepare_incoming', reason='no disk of %s on %s, '
                    'and no disk_bytes to make the mirror target' % (uuid, host))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.img.create_like(path, spec['disk_bytes'])
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
        self._start(dom, incoming=True)

    def start_migration(self, instance_uuid, source, dest, migration_id=None):
        rec = self._record(instance_uuid)
        if rec and self.poll_migration(instance_uuid, act=False)['status'] in \
                base.MIGRATION_ACTIVE:
            if (rec['source'], rec['dest'], rec.get('id')) == (source, dest, migration_id):
                self._keep_watched(instance_uuid, rec)    # a re-run after a crash
                return
            raise exception.DriverError(
                operation='start_migration', reason='a migration of %s from %s to %s '
                '(%s) is in progress' % (instance_uuid, rec['source'], rec['dest'],
                                         rec.get('id') or 'no id'))
        src = self._domain(instance_uuid, source)
        dst = self._domain(instance_uuid, dest)
        if src.status() != 'running':
            raise exception.DriverError(operation='start_migration', reason='source '
                                        'domain on %s is not running' % source)
        if dst.status() != 'inmigrate':
            raise exception.DriverError(operation='start_migration', reason='destination '
                                        'on %s is not waiting for a migration' % dest)
        block = not self.shares_storage(source, dest)
        spec = src.read_definition()['spec']
        rec = {'id': migration_id, 'source': source, 'dest': dest, 'block': block,
               'status': base.MIGRATION_RUNNING, 'started_at': time.time(),
               'ram_mb': spec['ram_mb'], 'migrate_started': False,
               'postcopy_permitted': self.opts.permit_post_copy,
               'continued': False, 'job': 'mirror-%s' % instance_uuid[:8],
               'disk_bytes': (self.img.virtual_size(self.disk_path(instance_uuid, source))
                              if block else 0)}
        self._save(instance_uuid, rec)
        with dst.qmp() as q:
            q.execute('migrate-set-capabilities', capabilities=[
                {'capability': 'postcopy-ram', 'state': rec['postcopy_permitted']},
                {'capability': 'events', 'state': True}])
            if block:
                mirror.export_disk(q, dst)
            try:
                q.execute('migrate-incoming', uri=self._uri(dst))
            except qmp.QMPError as e:
                if 'already' not in str(e):    # a re-run after a crash
                    raise
        bandwidth = self.opts.max_bandwidth * MIB or UNLIMITED_BANDWIDTH
        with src.qmp() as q:
            q.execute('migrate-set-capabilities', capabilities=[
                {'capability': 'postcopy-ram', 'state': rec['postcopy_permitted']},
                {'capability': 'pause-before-switchover', 'state': True},
                {'capability': 'events', 'state': True}, stall.CAPABILITY])
            q.execute('migrate-set-parameters', **dict(
                stall.HELD, **{'max-bandwidth': bandwidth,
                               'downtime-limit': self.opts.downtime_limit_ms}))
            # Listening before the copy starts: it continues at convergence.
            rec['watcher'] = switchover.spawn(src, dst, self._record_path(instance_uuid),
                                              migration_id, self.opts.operation_timeout)
            self._save(instance_uuid, rec)
            self._maybe_migrate(q, instance_uuid, rec, dst)
        LOG.info('Live migration of %s from %s to %s started%s', instance_uuid,
                 source, dest, ' with a disk mirror' if block else '')

    def _keep_watched(self, instance_uuid, rec):
        """Start the migration's switch-over watcher again if it is gone."""
        path = self._record_path(instance_uuid)
        if not rec.get('continued') and not switchover.alive(rec.get('watcher'), path):
            src, dst = self._ends(rec, instance_uuid)
            rec['watcher'] = switchover.spawn(src, dst, path, rec.get('id'),
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
        q.execute('migrate', uri=self._uri(dst))
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
        mirror.start(q, rec['job'], dst)
        rec['mirror_started'] = True
        self._save(instance_uuid, rec)

    def _finish(self, instance_uuid, rec, status, error=None):
        rec['status'] = status
        if error:
            rec['error'] = error
        self._save(instance_uuid, rec)

    def poll_migration(self, instance_uuid, act=True):
        """The migration's state, read from QEMU.

        With ``act`` (a poll, not a describe) it also moves the migration
        on: starts the memory copy once the mirror is ready, and applies the
        completion timeout.
        """
        rec = self._record(instance_uuid)
        if rec is None:
            return None
        total = rec['ram_mb'] + rec['disk_bytes'] / MIB
        result = {'id': rec.get('id'), 'source': rec['source'], 'dest': rec['dest'],
                  'status': rec['status'],
                  'total_mb': total, 'remaining_mb': total,
                  'postcopy': rec.get('postcopy', False),
                  'postcopy_permitted': rec.get('postcopy_permitted', True),
                  'paused': rec.get('paused', False)}
        if rec['status'] in FINAL:
            result['remaining_mb'] = 0 if rec['status'] == base.MIGRATION_COMPLETED else total
            if rec.get('error'):
                result['error'] = rec['error']
            for key in ('downtime_ms', 'total_time_ms', 'transferred_mb',
                        'guest_pause_ms', 'switchover_wait_ms'):
                if rec.get(key) is not None:
                    result[key] = rec[key]
            return result
        src, dst = self._ends(rec, instance_uuid)
        if src.pid() is None:
            # The source is gone: the guest lives on only if the destination runs.
            if rec['continued'] and self._dest_done(dst):
                self._finish(instance_uuid, rec, base.MIGRATION_COMPLETED)
            else:
                self._finish(instance_uuid, rec, base.MIGRATION_FAILED,
                             'the source QEMU process ended')
            return self.poll_migration(instance_uuid, act=False)
        with src.qmp() as q:
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
        qstatus = info.get('status', 'none')
        ram = info.get('ram') or {}
        remaining = (ram['remaining'] / MIB if 'remaining' in ram else rec['ram_mb'])
        for job in jobs:
            if job['device'] == rec['job']:
                remaining += (job['len'] - job['offset']) / MIB
        result.update(remaining_mb=round(remaining, 3),
                      transferred_mb=round(ram.get('transferred', 0) / MIB, 3),
                      dirty_pages_rate=ram.get('dirty-pages-rate', 0),
                      qemu_status=qstatus, **stall.figures(info))
        if qstatus in ('pre-switchover',) + PAST_CONTINUE:
            result['status'] = base.MIGRATION_READY
        elif qstatus == 'completed':
            done = self._dest_done(dst)
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
                mirror.stop_nbd(dst)
            if rec.get('paused'):
                self._resume_source(src, instance_uuid)
            self._finish(instance_uuid, rec, status, info.get('error-desc'))
            result['status'] = status
        elif (rec['block'] and rec.get('mirror_started') and not rec.get('mirror_done')
              and not any(j['device'] == rec['job'] for j in jobs)):
            # The mirror failed: the destination's disk is not a copy, so
            # the memory copy must not complete either.
            LOG.warning('Disk mirror of %s ended before the switch-over: cancelling '
                        'its live migration', instance_uuid)
            self._cancel(instance_uuid, rec, base.MIGRATION_FAILED, 'the disk mirror ended')
            result['status'] = base.MIGRATION_FAILED
        if act and result['status'] == base.MIGRATION_RUNNING:
            return self._check_timeout(instance_uuid, rec, result)
        return result

    def wait_migration(self, instance_uuid, timeout):
        """poll_migration, as soon as the migration moved on, or after timeout.

        QEMU announces every migration status change (the ``events``
        capability start_migration sets) and a disk mirror's readiness or end,
        so this listens on the source instead of polling it: a poll every few
        ms costs QEMU's main loop, which the migration needs, and only ever
        sees a change late. A change made before the connection shows in the
        queries right after it.
        """
        rec = self._record(instance_uuid)
        if rec is not None and rec['status'] not in FINAL:
            src, _dst = self._ends(rec, instance_uuid)
            try:
                with src.qmp(timeout=max(timeout, 1.0)) as q:
                    if not self._moved_on(q, rec):
                        q.wait_event(_WAKE_EVENTS, timeout=timeout)
            except qmp.QMPError:
                pass    # a quiet interval, or the source is gone: the poll says
        return self.poll_migration(instance_uuid)

    @staticmethod
    def _moved_on(q, rec):
        """Whether there is news for a poll to act on or report."""
        if any(ev['event'] in _WAKE_EVENTS for ev in q.events):
            return True
        if rec['migrate_started']:
            return q.execute('query-migrate').get('status') not in ('setup', 'active')
        if not rec['block']:
            return True
        job = {j['device']: j for j in q.execute('query-block-jobs')}.get(rec['job'])
        return job is None or job.get('ready', False)

    def cancel_migration(self, instance_uuid):
        # Under the lock the switch-over watcher takes: one of the two wins.
        with switchover.locked(self._record_path(instance_uuid)):
            return self._cancel_locked(instance_uuid)

    def _cancel_locked(self, instance_uuid):
        current = self.poll_migration(instance_uuid, act=False)
        rec = self._record(instance_uuid)
        if current is not None and current['status'] == base.MIGRATION_COMPLETED \
                and self._ends(rec, instance_uuid)[0].pid() is not None:
            raise exception.MigrationPastSwitchover(instance=instance_uuid)
        if current is None or current['status'] not in base.MIGRATION_ACTIVE:
            return False
        rec['continued'] = rec['continued'] or current.get('qemu_status') in \
            PAST_CONTINUE + ('completed',)
        if rec['continued'] and self._source_runs(rec, instance_uuid):
            # The switch-over began, then was undone: its destination never
            # confirmed it runs (it died, say) and the switch-over's revert
            # resumed the source. Nothing is left to cancel.
            self._cancel(instance_uuid, rec, base.MIGRATION_CANCELLED,
                         'the switch-over was undone: the source runs')
            LOG.info('Live migration of %s: its switch-over was undone, the source '
                     'runs again', instance_uuid)
            return True
        if rec['continued']:
            raise exception.MigrationPastSwitchover(instance=instance_uuid)
        self._cancel(instance_uuid, rec, base.MIGRATION_CANCELLED)
        LOG.info('Live migration of %s cancelled; the source keeps running', instance_uuid)
        return True

    def _source_runs(self, rec, instance_uuid):
        src = self._ends(rec, instance_uuid)[0]
        try:
            return src.status() == 'running'
        except exception.DriverError:
            return False    # cannot tell: not undone

    def _cancel(self, instance_uuid, rec, status, error=None):
        """Stop the memory copy and the mirror; the source runs again."""
        src, dst = self._ends(rec, instance_uuid)
        deadline = time.monotonic() + self.opts.operation_timeout
        with src.qmp() as q:
            if rec['migrate_started']:
                q.execute('migrate_cancel')
            if rec['block']:
                try:
                    q.execute('block-job-cancel', device=rec['job'], force=True)
                except qmp.QMPError:
                    pass    # already gone
            while time.monotonic() < deadline:
                busy = q.execute('query-migrate').get('status') in (
                    'cancelling', 'setup', 'active', 'pre-switchover', 'device')
                jobs = q.execute('query-block-jobs') if rec['block'] else []
                if not busy and not any(j['device'] == rec['job'] for j in jobs):
                    break
                time.sleep(0.005)
            if q.execute('query-status')['status'] != 'running':
                q.execute('cont')
        mirror.stop_nbd(dst)
        self._finish(instance_uuid, rec, status, error)

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
