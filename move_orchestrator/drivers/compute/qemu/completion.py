"""Finishing a live migration: its record once switched over, and one
that does not converge by itself.

Force-complete switches it to post-copy where ``[qemu] permit_post_copy``
allows, else pauses the guest until the copy is over (stall.py), as Nova
does; the completion timeout (``[qemu] completion_timeout_per_gib``) takes
``completion_timeout_action`` on a poll. A guest paused to finish runs on
where it was when the migration ends without it.
"""

import contextlib
import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import destination
from move_orchestrator.drivers.compute.qemu import migration
from move_orchestrator.drivers.compute.qemu import mirror
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator.drivers.compute.qemu import watchers
from move_orchestrator import exception

LOG = logging.getLogger(__name__)
MIB = 1 << 20


def _mfail(instance_uuid, reason):
    raise exception.MigrationFailed(instance=instance_uuid, reason=reason,
                                    operation='live_migration')


class CompletionMixin:
    """complete_migration, force-complete and the completion timeout of
    QemuDriver."""

    def _check_timeout(self, instance_uuid, rec, result):
        gib = max(1.0, result['total_mb'] / 1024)
        limit = self.opts.completion_timeout_per_gib * gib
        if not limit or time.time() - rec['started_at'] < limit:
            return result
        action = self.opts.completion_timeout_action
        LOG.warning('Live migration of %s exceeded its completion timeout of %ds: %s',
                    instance_uuid, limit, action)
        if action == 'force_complete' and (rec['migrate_started']
                                           or not rec.get('postcopy_permitted', True)):
            self.force_complete_migration(instance_uuid)
        else:
            self.cancel_migration(instance_uuid)
        return self.poll_migration(instance_uuid, act=False)

    def force_complete_migration(self, instance_uuid, source=None):
        current = self.poll_migration(instance_uuid, act=False)
        if current is None or current['status'] not in base.MIGRATION_ACTIVE:
            raise exception.MigrationNotRunning(
                instance=instance_uuid,
                status=current['status'] if current else 'none started')
        if current['status'] == base.MIGRATION_READY:
            return
        rec = self._record(instance_uuid)
        if not rec.get('postcopy_permitted', True) or rec.get('paused'):
            self.pause_to_finish(instance_uuid, rec)
            return
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
                if status in ('pre-switchover', 'completed') + migration.PAST_CONTINUE:
                    break       # the watcher may have continued it already
                if status in ('failed', 'cancelled'):
                    _mfail(instance_uuid, 'post-copy could not start: %s' % status)
                if time.monotonic() > deadline:
                    _mfail(instance_uuid, 'post-copy did not reach the switch-over')
                time.sleep(0.005)
        LOG.info('Live migration of %s switched to post-copy', instance_uuid)

    @staticmethod
    def _resume_source(src, instance_uuid):
        """A migration the guest was paused for ended without it: it runs
        on where it was."""
        try:
            with src.qmp() as q:
                if q.execute('query-status')['status'] == 'paused':
                    q.execute('cont')
        except qmp.QMPError as e:
            LOG.warning('Live migration of %s ended; its paused guest could not be '
                        'resumed: %s', instance_uuid, e)

    def cancel_migration(self, instance_uuid, source=None):
        path = self._record_path(instance_uuid)
        if path is None:
            return False        # never migrated: nothing to cancel
        # Under the lock the switch-over watcher takes: one of the two wins.
        with switchover.locked(path):
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
            migration.PAST_CONTINUE + ('completed',)
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
        self._stop_target(rec, dst)
        self._finish(instance_uuid, rec, status, error)

    def complete_migration(self, instance_uuid, source=None):
        current = self.poll_migration(instance_uuid, act=False)
        rec = self._record(instance_uuid)
        if rec is not None and rec['status'] == base.MIGRATION_COMPLETED:
            dst = self._ends(rec, instance_uuid)[1]
            if not rec.get('incoming') and (dst.read_definition() or {}).get('incoming'):
                dst.write_definition({'spec': dst.read_definition()['spec']})
            return
        if current is None or current['status'] not in (base.MIGRATION_READY,
                                                        base.MIGRATION_COMPLETED):
            raise exception.DriverError(operation='complete_migration',
                                        reason='migration of %s has not converged'
                                        % instance_uuid)
        src, dst = self._ends(rec, instance_uuid)
        deadline = time.monotonic() + self.opts.operation_timeout
        accepted = bool(rec.get('incoming'))
        path = self._record_path(instance_uuid, rec['source'])
        # The destination listens from before the switch-over: its RESUME
        # (and MIGRATION completed, after a post-copy) cannot be missed. One
        # that accepted the migration is not looked at from here: it
        # confirms the arrival itself (confirm_incoming).
        with src.qmp() as q, (contextlib.nullcontext() if accepted
                              else dst.qmp()) as qd:
            # Done by the watcher already, as a rule; if it is gone, here.
            if not switchover.switch_over(q, path, rec.get('id'), deadline):
                _mfail(instance_uuid, 'it was cancelled at its switch-over')
            rec = self._record(instance_uuid)
            info = self._wait_switched(q, qd, instance_uuid, rec, deadline)
        if not accepted:
            if rec['block']:
                mirror.stop_nbd(dst)
            dst.write_definition({'spec': dst.read_definition()['spec']})
        rec.update(watchers.figures(path, rec))
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
            if qd is None and status == 'completed':
                return info     # all sent: the destination confirms the rest
            if status == 'completed' and (rec.get('paused') or rec['block']):
                # Paused or held: its watcher may be gone.
                destination.run_arrived(qd, qd.execute('query-migrate').get('status'))
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
                (qd if status == 'completed' and qd else q).wait_event(
                    ('MIGRATION', 'RESUME'), timeout=min(left, 0.2))
            except qmp.QMPError as e:
                if e.kwargs.get('operation') != 'wait_event':
                    raise
