"""wait_migration of the qemu driver: told by QEMU's events, not polling.

QEMU announces every migration status change (the ``events`` capability
start_migration sets), each new pass over the memory, and a disk mirror's
readiness or end, so a wait listens on the source instead of polling it: a
poll every few ms costs QEMU's main loop, which the migration needs, and
only ever sees a change late. Past the switch-over it returns once the
guest runs again (paused.py), not while it is paused.

A wait is one session on the source's monitor, the poll's figures read on
it before it closes: every connection costs QEMU a greeting and a
negotiation, and the copy the wait follows competes for the same cores
(a poll on a session of its own doubled the connections of a migration
watched every few ms).
"""

import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import paused
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator.drivers.compute.qemu import watchers

LOG = logging.getLogger(__name__)

FINAL = (base.MIGRATION_COMPLETED, base.MIGRATION_FAILED, base.MIGRATION_CANCELLED)
# What ends a wait_migration early: a status change, a new pass over the
# memory (its remaining bytes are the stall policy's measure), a disk
# mirror's news.
_WAKE_EVENTS = ('MIGRATION', 'MIGRATION_PASS', 'BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED',
                'BLOCK_JOB_ERROR', 'BLOCK_JOB_CANCELLED')
_QUIET = 'no news within the timeout'     # the hold did not look


class WaitMixin:
    """wait_migration of QemuDriver (with MigrationMixin's poll)."""

    def wait_migration(self, instance_uuid, timeout):
        """poll_migration, as soon as the migration moved on, or after timeout.

        A change made before the connection shows in the queries right
        after it. A source that reached the switch-over after the hold
        looked (or a quiet wait ended), and before the poll did, is held
        then, and polled again.
        """
        rec = self._record(instance_uuid)
        if rec is None or rec['status'] in FINAL:
            return self.poll_migration(instance_uuid)
        why, seen = self._wait_and_hold(instance_uuid, rec, timeout)
        result = self.poll_migration(instance_uuid, seen=seen)
        if why in (paused.BEFORE, _QUIET) and result.get('qemu_status') in paused.HELD:
            then, seen = self._wait_and_hold(instance_uuid, rec, timeout)
            why = '%s, then %s' % (why, then)
            result = self.poll_migration(instance_uuid, seen=seen)
        LOG.debug('Wait on the live migration of %s (%s): %s', instance_uuid,
                  result.get('qemu_status'), why)
        return result

    def _wait_and_hold(self, instance_uuid, rec, timeout):
        """Wait for news, then hold while the guest is paused: why it
        ended, and what the poll after it reads (None: read it anew)."""
        src, dst = self._ends(rec, instance_uuid)
        try:
            with src.qmp(timeout=max(timeout, 1.0)) as q:
                why = self._wait_news(q, instance_uuid, rec, dst, timeout)
                if not rec['migrate_started']:
                    return why, None    # the poll may start the copy itself
                return why, self._read_source(q, instance_uuid, rec, dst, act=False)
        except qmp.QMPError as e:
            # The source is gone, say: the poll tells.
            return 'QMPError: %s' % e, None

    def _wait_news(self, q, instance_uuid, rec, dst, timeout):
        """Why the wait ended, on the source's session q."""
        if not self._moved_on(q, rec) and not paused.wait_event(
                q, _WAKE_EVENTS, time.monotonic() + timeout):
            return _QUIET
        if not rec['migrate_started']:  # QEMU's status: an earlier attempt's
            return 'this attempt\'s migrate has not started'
        return paused.hold(q, dst, lambda: self._continued_by_host(
            instance_uuid, rec))

    def _continued_by_host(self, instance_uuid, rec):
        """Whether the host side continues the migration from pre-switchover:
        its watcher runs, or it has continued (and ended: looked at second,
        as it writes the record before it ends)."""
        path = self._record_path(instance_uuid, rec['source'])
        return (watchers.alive(rec.get('watcher'), path)
                or bool((switchover.read_json(path) or {}).get('continued')))

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
