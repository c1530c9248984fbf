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

A wait that ends at each new pass wakes its caller, whose next wait
connects again, right where the copy converges and the guest stops (in 10
orchestrated moves traced, the conductor had a QMP call under way inside
QEMU's downtime in every one: a query in 9, a new connection in 7). So
the conductor asks for that only while its stall policy may act;
otherwise the wait looks at each pass on its session, goes on, and
answers what it saw (``passes``); and while the policy counts no pass yet
(``look_at_passes`` false: the copy's start, steps/stall.py), it goes on
without looking.
"""

import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import paused
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import watcher_io
from move_orchestrator.drivers.compute.qemu import watchers

LOG = logging.getLogger(__name__)

FINAL = (base.MIGRATION_COMPLETED, base.MIGRATION_FAILED, base.MIGRATION_CANCELLED)
# What ends a wait_migration early: a status change, a new pass over the
# memory (its remaining bytes are the stall policy's measure), a disk
# mirror's news.
_WAKE_EVENTS = ('MIGRATION', 'MIGRATION_PASS', 'BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED',
                'BLOCK_JOB_ERROR', 'BLOCK_JOB_CANCELLED')
# The same, but for a new pass (looked at by a wait that goes on).
_NEWS = tuple(e for e in _WAKE_EVENTS if e != 'MIGRATION_PASS')
# Seconds a wait that goes on through passes waits, at a new one, for the
# guest's stop before it looks at the pass.
PASS_SETTLE = 0.002
# A wait that goes on through the passes without looking at them.
_UNLOOKED = ()
_QUIET = 'no news within the timeout'     # the hold did not look
_OTHER_NEWS = 'a new pass over the memory, or the disk mirror\'s news'


class WaitMixin:
    """wait_migration of QemuDriver (with MigrationMixin's poll)."""

    def wait_migration(self, instance_uuid, timeout, source=None,
                       wake_at_pass=True, look_at_passes=True):
        """poll_migration, as soon as the migration moved on, or after timeout.

        A change made before the connection shows in the queries right
        after it. A source that reached the switch-over after the wait
        ended (or a quiet wait), and before the look that follows it, is
        held then, on the same session, and looked at again. Not
        ``wake_at_pass``: each new pass is looked at on the same session
        (not ``look_at_passes``: nor looked at) and the wait goes on; the
        answer's ``passes`` says what it saw.
        """
        rec = self._record(instance_uuid)
        if rec is None or rec['status'] in FINAL:
            return self.poll_migration(instance_uuid)
        if wake_at_pass:
            passes = None
        else:
            passes = [] if look_at_passes else _UNLOOKED
        why, seen = self._wait_and_hold(instance_uuid, rec, timeout, passes)
        result = self.poll_migration(instance_uuid, seen=seen)
        if passes:
            now = time.monotonic()
            result['passes'] = [dict(look, age=round(now - at, 3))
                                for at, look in passes]
        LOG.debug('Wait on the live migration of %s (%s): %s', instance_uuid,
                  result.get('qemu_status'), why)
        return result

    def _wait_and_hold(self, instance_uuid, rec, timeout, passes):
        """Wait for news, then hold while the guest is paused: why it
        ended, and what the poll after it reads (None: read it anew)."""
        src, dst = self._ends(rec, instance_uuid)
        try:
            with src.qmp(timeout=max(timeout, 1.0)) as q:
                why, held = self._wait_news(q, instance_uuid, rec, dst, timeout,
                                            passes)
                if not rec['migrate_started']:
                    return why, None    # the poll may start the copy itself
                seen = self._read_source(q, instance_uuid, rec, dst, act=False)
                status = seen[0].get('status')
                if not held and status in paused.HELD:
                    why = '%s, then %s' % (why, paused.hold(
                        q, dst, self._watched(instance_uuid, rec), status=status))
                    seen = self._read_source(q, instance_uuid, rec, dst, act=False)
                return why, seen
        except qmp.QMPError as e:
            # The source is gone, say: the poll tells.
            return 'QMPError: %s' % e, None

    def _wait_news(self, q, instance_uuid, rec, dst, timeout, passes):
        """Why the wait ended, on the source's session q, and whether it
        held the guest's pause through. ``passes``: None to end at a new
        pass, else where the look at each goes (_UNLOOKED: nowhere)."""
        # The status known now (QEMU's answer, or its newest news): the
        # hold asks nothing more, the guest may be paused at this moment.
        moved, status = self._moved_on(q, rec, _WAKE_EVENTS if passes is None
                                       else _NEWS)
        if not moved:
            event = self._next_news(q, instance_uuid, rec, dst,
                                    time.monotonic() + timeout, passes)
            if event is None:
                return _QUIET, False
            status = paused.status_of(event)
        elif status is None:
            for ev in q.events:
                status = paused.status_of(ev) or status
        if not rec['migrate_started']:  # QEMU's status: an earlier attempt's
            return 'this attempt\'s migrate has not started', False
        if status is None:
            # The look that follows says whether the guest is paused.
            return _OTHER_NEWS, False
        why = paused.hold(q, dst, self._watched(instance_uuid, rec), status=status)
        return why, why != paused.BEFORE

    def _next_news(self, q, instance_uuid, rec, dst, deadline, passes):
        """QEMU's next event that ends the wait, if it comes by deadline;
        a new pass does not when ``passes`` takes the look at it, or is
        _UNLOOKED."""
        while True:
            event = paused.wait_event(q, _WAKE_EVENTS, deadline)
            if event is None or event['event'] != 'MIGRATION_PASS' or \
                    passes is None or not rec['migrate_started']:
                return event
            if passes is _UNLOOKED:
                continue
            # The pass that converges is followed at once (0.1-0.4 ms
            # measured) by the guest's stop: no look at it, which would
            # take QEMU's main loop from the stop and the switch-over, and
            # no pass left for the stall policy to judge.
            settled = paused.wait_event(q, ('STOP', 'MIGRATION'),
                                        time.monotonic() + PASS_SETTLE)
            if settled is not None:
                if settled['event'] == 'MIGRATION':
                    return settled
                continue
            info, jobs = self._read_source(q, instance_uuid, rec, dst, act=False)
            passes.append((time.monotonic(), self._copy_figures(rec, info, jobs)))

    def _watched(self, instance_uuid, rec):
        return lambda: self._continued_by_host(instance_uuid, rec)

    def _continued_by_host(self, instance_uuid, rec):
        """Whether the host side continues the migration from pre-switchover:
        its watcher runs, or it has continued (and ended: looked at second,
        as it writes the record before it ends)."""
        path = self._record_path(instance_uuid, rec['source'])
        return (watchers.alive(rec.get('watcher'), path)
                or bool((watcher_io.read_json(path) or {}).get('continued')))

    @staticmethod
    def _moved_on(q, rec, news):
        """Whether there is news (events named in ``news``) for a poll to
        act on or report, and the migration's status if it was asked for
        it (else None)."""
        if any(ev['event'] in news for ev in q.events):
            return True, None
        if rec['migrate_started']:
            status = q.execute('query-migrate').get('status')
            return status not in ('setup', 'active'), status
        if not rec['block']:
            return True, None
        job = {j['device']: j for j in q.execute('query-block-jobs')}.get(rec['job'])
        return job is None or job.get('ready', False), None
