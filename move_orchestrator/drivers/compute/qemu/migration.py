"""Live migration over QMP, as libvirt drives it.

Both ends get ``postcopy-ram`` (unless ``[qemu] permit_post_copy`` is
false), the source ``pause-before-switchover``: a
converged migration stops at ``pre-switchover`` with the source paused, and
only ``migrate-continue`` (complete_migration) hands the guest over. After
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
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

MIB = 1 << 20
FINAL = (base.MIGRATION_COMPLETED, base.MIGRATION_FAILED, base.MIGRATION_CANCELLED)
_ACTIVE = ('setup', 'active', 'pre-switchover', 'device', 'postcopy-active',
           'postcopy-paused', 'postcopy-recover', 'wait-unplug')
_PAST_CONTINUE = ('device', 'postcopy-active', 'postcopy-paused', 'postcopy-recover')
UNLIMITED_BANDWIDTH = 1 << 40
# What ends a wait_migration early: a status change, a disk mirror's news.
_WAKE_EVENTS = ('MIGRATION', 'BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED',
                'BLOCK_JOB_ERROR', 'BLOCK_JOB_CANCELLED')


def _mfail(instance_uuid, reason):
    raise exception.MigrationFailed(instance=instance_uuid, reason=reason,
                                    operation='live_migration')


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
            sources = [h for (u, h) in self.list_disks() if u == uuid and h != host]
            if not sources:
                raise exception.DriverError(operation='prepare_incoming',
                                            reason='instance %s has no disk' % uuid)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.img.create_like(path, self.img.virtual_size(
                self.disk_path(uuid, sources[0])))
        dom = self._domain(uuid, host)
        status = dom.status()
        if status == 'inmigrate':
            return
        if status is not None:
            raise exception.DriverError(
                operation='prepare_incoming', reason='a %s domain of %s already '
                'exists on %s' % (status, uuid, host))
        os.makedirs(dom.dir, exist_ok=True)
        dom.write_definition({'spec': spec, 'incoming': True})
        self._start(dom, incoming=True)

    def start_migration(self, instance_uuid, source, dest, migration_id=None):
        rec = self._record(instance_uuid)
        if rec and self.poll_migration(instance_uuid, act=False)['status'] in \
                base.MIGRATION_ACTIVE:
            if (rec['source'], rec['dest'], rec.get('id')) == (source, dest, migration_id):
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
                self._export_disk(q, dst)
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
                {'capability': 'events', 'state': True}])
            q.execute('migrate-set-parameters', **{
                'max-bandwidth': bandwidth,
                'downtime-limit': self.opts.downtime_limit_ms})
            self._maybe_migrate(q, instance_uuid, rec, dst)
        LOG.info('Live migration of %s from %s to %s started%s', instance_uuid,
                 source, dest, ' with a disk mirror' if block else '')

    @staticmethod
    def _export_disk(q, dst):
        try:
            q.execute('nbd-server-start', addr={
                'type': 'unix', 'data': {'path': dst.path('nbd.sock')}})
        except qmp.QMPError as e:
            if 'already running' not in str(e):
                raise
        try:
            q.execute('block-export-add', type='nbd', id='mirror', name='disk0',
                      **{'node-name': 'disk0', 'writable': True})
        except qmp.QMPError as e:
            if 'already' not in str(e):
                raise

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
        self._drop_mirror(q, rec, deadline=time.monotonic() + self.opts.operation_timeout)
        q.execute('drive-mirror', **{
            'job-id': rec['job'], 'device': 'drive0', 'format': 'raw',
            'target': 'nbd+unix:///disk0?socket=%s' % dst.path('nbd.sock'),
            'sync': 'full', 'mode': 'existing'})
        rec['mirror_started'] = True
        self._save(instance_uuid, rec)

    @staticmethod
    def _drop_mirror(q, rec, deadline):
        """Cancel the disk mirror, if any (forced: no pivot, the copy is
        not wanted) and wait until QEMU has let go of it."""
        while any(j['device'] == rec['job'] for j in q.execute('query-block-jobs')):
            try:
                q.execute('block-job-cancel', device=rec['job'], force=True)
            except qmp.QMPError:
                pass    # ending already
            if time.monotonic() > deadline:
                raise exception.DriverError(
                    operation='block-job-cancel', reason='the disk mirror %s does not '
                    'end' % rec['job'])
            time.sleep(0.005)

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
                  'postcopy': rec.get('postcopy', False)}
        if rec['status'] in FINAL:
            result['remaining_mb'] = 0 if rec['status'] == base.MIGRATION_COMPLETED else total
            if rec.get('error'):
                result['error'] = rec['error']
            for key in ('downtime_ms', 'total_time_ms', 'transferred_mb'):
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
                      qemu_status=qstatus)
        if qstatus == 'pre-switchover' or (qstatus in _PAST_CONTINUE and rec['continued']):
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
                        self._drop_mirror(q, rec,
                                          time.monotonic() + self.opts.operation_timeout)
                except (qmp.QMPError, exception.DriverError) as e:
                    LOG.warning('Live migration of %s %s; its disk mirror could not be '
                                'cancelled: %s', instance_uuid, qstatus, e)
                self._stop_nbd(dst)
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

    def _check_timeout(self, instance_uuid, rec, result):
        gib = max(1.0, result['total_mb'] / 1024)
        limit = self.opts.completion_timeout_per_gib * gib
        if not limit or time.time() - rec['started_at'] < limit:
            return result
        action = self.opts.completion_timeout_action
        if action == 'force_complete' and not rec.get('postcopy_permitted', True):
            action = 'abort (post-copy not permitted)'
        LOG.warning('Live migration of %s exceeded its completion timeout of %ds: %s',
                    instance_uuid, limit, action)
        if action == 'force_complete' and rec['migrate_started']:
            self.force_complete_migration(instance_uuid)
        else:
            self.cancel_migration(instance_uuid)
        return self.poll_migration(instance_uuid, act=False)

    def cancel_migration(self, instance_uuid):
        current = self.poll_migration(instance_uuid, act=False)
        if current is None or current['status'] not in base.MIGRATION_ACTIVE:
            return False
        rec = self._record(instance_uuid)
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
            raise exception.DriverError(
                operation='cancel_migration', reason='the switch-over of %s has '
                'begun: past the point of no return' % instance_uuid)
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
        self._stop_nbd(dst)
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

    @staticmethod
    def _stop_nbd(dst):
        if dst.pid() is None:
            return
        try:
            with dst.qmp(timeout=2) as q:
                q.execute('nbd-server-stop')
        except qmp.QMPError:
            pass    # not running, or the destination is exiting

    def force_complete_migration(self, instance_uuid):
        current = self.poll_migration(instance_uuid, act=False)
        if current is None or current['status'] not in base.MIGRATION_ACTIVE:
            raise exception.DriverError(operation='force_complete_migration',
                                        reason='no migration of %s in progress'
                                        % instance_uuid)
        if current['status'] == base.MIGRATION_READY:
            return
        rec = self._record(instance_uuid)
        if not rec.get('postcopy_permitted', True):
            raise exception.DriverError(
                operation='force_complete_migration', reason='the live migration of %s '
                'cannot switch to post-copy: it started with [qemu] permit_post_copy '
                'false; abort it, or let it converge' % instance_uuid)
        if not rec['migrate_started']:
            raise exception.DriverError(
                operation='force_complete_migration', reason='the disk mirror of %s '
                'is not ready yet: post-copy needs the memory copy started' % instance_uuid)
        src, _dst = self._ends(rec, instance_uuid)
        deadline = time.monotonic() + self.opts.operation_timeout
        with src.qmp() as q:
            try:
                q.execute('migrate-start-postcopy')
            except qmp.QMPError as e:
                LOG.debug('migrate-start-postcopy: %s', e)
            rec['postcopy'] = True
            self._save(instance_uuid, rec)
            while True:
                status = q.execute('query-migrate')['status']
                if status == 'pre-switchover':
                    break
                if status in ('failed', 'cancelled', 'completed'):
                    _mfail(instance_uuid, 'post-copy could not start: %s' % status)
                if time.monotonic() > deadline:
                    _mfail(instance_uuid, 'post-copy did not reach the switch-over')
                time.sleep(0.005)
        LOG.info('Live migration of %s switched to post-copy', instance_uuid)

    def complete_migration(self, instance_uuid):
        current = self.poll_migration(instance_uuid, act=False)
        if current is not None and current['status'] == base.MIGRATION_COMPLETED:
            return
        if current is None or current['status'] != base.MIGRATION_READY:
            raise exception.DriverError(operation='complete_migration',
                                        reason='migration of %s has not converged'
                                        % instance_uuid)
        rec = self._record(instance_uuid)
        src, dst = self._ends(rec, instance_uuid)
        deadline = time.monotonic() + self.opts.operation_timeout
        # The destination listens from before the switch-over: its RESUME
        # (and MIGRATION completed, after a post-copy) cannot be missed.
        with src.qmp() as q, dst.qmp() as qd:
            if q.execute('query-migrate')['status'] == 'pre-switchover':
                if rec['block']:
                    self._finish_mirror(q, instance_uuid, rec, deadline)
                rec['continued'] = True
                self._save(instance_uuid, rec)
                # QEMU leaves pre-switchover a moment after it accepts this:
                # it is sent once, whatever query-migrate says next.
                try:
                    q.execute('migrate-continue', state='pre-switchover')
                except qmp.QMPError as e:
                    if 'not in expected state' not in str(e):
                        raise
                    LOG.debug('migrate-continue of %s: %s', instance_uuid, e)
            info = self._wait_switched(q, qd, instance_uuid, rec, deadline)
        if rec['block']:
            self._stop_nbd(dst)
        dst.write_definition({'spec': dst.read_definition()['spec']})
        rec.update(downtime_ms=info.get('downtime'), total_time_ms=info.get('total-time'),
                   transferred_mb=round(info.get('ram', {}).get('transferred', 0) / MIB, 1))
        self._finish(instance_uuid, rec, base.MIGRATION_COMPLETED)
        LOG.info('Live migration of %s completed: runs on %s; %s MiB sent in %s ms, '
                 'guest paused %s ms', instance_uuid, rec['dest'], rec['transferred_mb'],
                 rec['total_time_ms'], rec['downtime_ms'])

    def _wait_switched(self, q, qd, instance_uuid, rec, deadline):
        """Until the source has sent everything and the destination runs
        with everything received; woken by events, not a tight poll."""
        while True:
            info = q.execute('query-migrate')
            status = info['status']
            if status in ('failed', 'cancelled'):
                self._finish(instance_uuid, rec, base.MIGRATION_FAILED, status)
                _mfail(instance_uuid, 'the switch-over %s' % status)
            done = (status == 'completed'
                    and qd.execute('query-status')['status'] == 'running'
                    and qd.execute('query-migrate').get('status') == 'completed')
            if done:
                return info
            left = deadline - time.monotonic()
            if left <= 0:
                _mfail(instance_uuid, 'the destination did not start in %ss'
                       % self.opts.operation_timeout)
            try:
                (qd if status == 'completed' else q).wait_event(
                    ('MIGRATION', 'RESUME'), timeout=min(left, 0.2))
            except qmp.QMPError as e:
                if e.kwargs.get('operation') != 'wait_event':
                    raise

    def _finish_mirror(self, q, instance_uuid, rec, deadline):
        """End a ready mirror without pivoting: the target is now a full copy."""
        if rec.get('mirror_done'):
            return
        jobs = {j['device']: j for j in q.execute('query-block-jobs')}
        if not jobs.get(rec['job'], {}).get('ready'):
            _mfail(instance_uuid, 'the disk mirror is not ready at the switch-over')
        q.execute('block-job-cancel', device=rec['job'])
        while any(j['device'] == rec['job'] for j in q.execute('query-block-jobs')):
            if time.monotonic() > deadline:
                _mfail(instance_uuid, 'the disk mirror did not finish')
            time.sleep(0.002)
        rec['mirror_done'] = True
        self._save(instance_uuid, rec)
