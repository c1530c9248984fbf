"""Transfer phase: copy what must move to the destination.

Reverts remove what was made on the destination and give the source back its
power state. Every step looks at the driver first, so a re-run after a crash
does not redo (or undo) what is already done.
"""

import collections
import threading
import time

from oslo_log import log as logging

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator.drivers import following
from move_orchestrator import exception
from move_orchestrator.steps import base
from move_orchestrator.steps import stall

LOG = logging.getLogger(__name__)
ABORT_CHECK_INTERVAL = 0.1   # seconds between looks for an operator's abort


class BindDestinationPorts(base.MoveStep):
    """Prepare an inactive port binding on the destination."""
    phase = 'transfer'

    def execute(self, instance_uuid, dest):
        self.network.bind_ports(instance_uuid, dest)

    def revert(self, instance_uuid, source, dest, **kwargs):
        if dest != source:
            self.network.unbind_ports(instance_uuid, dest)


class PowerOffInstance(base.MoveStep):
    phase = 'transfer'

    def execute(self, instance_uuid, source):
        # A source marked down cannot say its guest is off: refused.
        domain = choreography.domain_on(self.driver, instance_uuid, source)
        if domain is not None and domain['state'] != driver_base.SHUTOFF:
            self.driver.power_off(instance_uuid, source)

    def revert(self, instance_uuid, source, power_state, **kwargs):
        domain = self.domain_left_on(instance_uuid, source)
        if (power_state == 'running' and domain is not None
                and domain['state'] != driver_base.RUNNING):
            self.driver.power_on(instance_uuid, source)


class CopyDisk(base.MoveStep):
    """Copy the disk for the new flavor over the network (an export of the
    source's, imported by the destination), or grow it in place where
    source and destination share storage (one host, or one storage group).
    A re-run after a crash exports again and imports what is not there."""
    phase = 'transfer'

    def execute(self, instance_uuid, source, dest, new_spec):
        choreography.copy_disk(self.driver, instance_uuid, source, dest,
                               new_spec['disk_gb'])

    def revert(self, instance_uuid, source, dest, spec, **kwargs):
        # Also stops an export a crash left running on the source.
        choreography.undo_copy(self.driver, instance_uuid, source, dest,
                               spec['disk_gb'])


class RebuildDisk(base.MoveStep):
    """Evacuate: the source's disk is out of reach, start from the image.

    On storage the destination shares with the source the disk is within
    reach: create_disk keeps it, and the instance comes back with its data,
    as Nova's evacuate on shared storage does.
    """
    phase = 'transfer'

    def execute(self, new_spec, dest):
        self.driver.create_disk(new_spec, dest)

    def revert(self, instance_uuid, source, dest, **kwargs):
        # Not the disk of the group the source shares: that is the
        # instance's own, made before this move.
        choreography.delete_disk(self.driver, instance_uuid, dest, source)


class PrepareIncoming(base.MoveStep):
    """The destination accepts the memory copy: its domain waits, and it
    says where the source sends it (``incoming``, for TransferMemory).

    It must be built as the source is (a live resize may have plugged
    vCPUs and memory into it), with a disk the size of the source's when
    the disk is mirrored: CheckInstance brought both from the source
    (``source_facts``); a move that ran before asks again, as it may have
    stood failed meanwhile.
    """
    phase = 'transfer'
    default_provides = 'incoming'

    def execute(self, move_id, instance_uuid, new_spec, source, dest,
                source_facts=None):
        # The look costs a round trip to each host: only a move that ran
        # before may find its guest there already.
        if self.ran_before(move_id):
            if choreography.switched_over(self.driver, instance_uuid,
                                          source, dest):
                # A resumed move whose guest was switched over while nobody
                # recorded it: it has arrived, nothing to prepare or reach.
                LOG.info('%s runs on %s alone, switched over already: no '
                         'destination to prepare', instance_uuid, dest)
                return None
            source_facts = None
        return choreography.accept_incoming(self.driver, new_spec, source, dest,
                                            source_facts)

    def revert(self, instance_uuid, source, dest, **kwargs):
        choreography.undo_prepare_incoming(self.driver, instance_uuid, source,
                                           dest)


def _said(migration):
    """The hypervisor's own words on a migration that ended badly."""
    reason = (migration or {}).get('reason')
    return ': %s' % reason if reason else ''


def _looks(migration, now):
    """What the stall policy judges of a wait's answer, with when each
    was seen: the first look at each pass the wait saw without ending
    (``passes``, from a driver told not to wake at them), then the answer."""
    for look in migration.get('passes') or ():
        yield dict(migration, **look), now - look.get('age', 0)
    yield migration, now


class TransferMemory(base.MoveStep):
    """Pre-copy the memory until it converges, reporting progress.

    Resumable: a migration already running (or converged) in the hypervisor
    is followed, not restarted. The driver switches the guest over the
    moment the copy converges, without waiting for this step: its success is
    the move's point of no return. An abort or a timeout that comes too late
    (the driver refuses: MigrationPastSwitchover) lets it complete. A copy
    that stops making progress gets the stall policy's actions
    ([live_migration], steps/stall.py), each recorded in the task's actions
    with the figures that triggered it.
    """
    phase = 'transfer'
    default_provides = 'migration'
    # The moves whose migration this process asked to start (the latest):
    # such a move's step, run again under the same claim (a roll forward,
    # a database outage), looks for it first.
    _asked = collections.OrderedDict()
    _asked_lock = threading.Lock()
    ASKED_KEPT = 4096

    def execute(self, move_id, instance_uuid, source, dest, incoming=None):
        migration = None
        resumed = self.ran_before(move_id)     # a read: asked once
        again = resumed or move_id in self._asked
        if again:
            # Only then can the move's migration be under way or over: on
            # a first run the look, a round trip to the source's agent,
            # would hold the copy's start for nothing.
            migration = self.driver.poll_migration(instance_uuid, source=source)
        if migration is not None and migration.get('id') != move_id:
            migration = None    # an earlier move's, ended: not ours to follow
        status = migration['status'] if migration else None
        if status == driver_base.MIGRATION_FAILED:
            # It failed while nobody watched (we were restarted): revert.
            raise exception.MigrationFailed(
                instance=instance_uuid, reason='the hypervisor reports it '
                'failed while the conductor was away%s' % _said(migration))
        if status not in driver_base.MIGRATION_ACTIVE + (
                driver_base.MIGRATION_COMPLETED,):
            if resumed and choreography.switched_over(
                    self.driver, instance_uuid, source, dest):
                # Switched over, and nothing knows of it any more (libvirt
                # undefined the source, whose agent restarted, and so did
                # the conductor): the hosts say it completed.
                LOG.info('%s runs on %s alone: its live migration completed '
                         'while nobody recorded it', instance_uuid, dest)
                self.update_progress(1.0)
                return {'id': move_id, 'source': source, 'dest': dest,
                        'status': driver_base.MIGRATION_COMPLETED,
                        'found': 'switched over, unrecorded'}
            self._asking(move_id)
            migration = self.driver.start_migration(
                instance_uuid, source, dest, migration_id=move_id,
                incoming=incoming)
            if migration is None:   # an agent before 1.8 answers nothing
                migration = self.driver.poll_migration(instance_uuid,
                                                       source=source)
        self.under_way()
        follower = following.Follower(self.driver, instance_uuid, source, dest)
        try:
            return self._follow(move_id, instance_uuid, source, migration,
                                follower, self._watch(move_id, again))
        finally:
            follower.close()

    def _watch(self, move_id, again):
        """The stall policy's watch, counting the actions a run before
        this one took. Only a run after another (``again``) can find any:
        a first run reads none of the move's history, as its copy starts."""
        policy = self.services.conf.live_migration
        taken = 0
        if again and policy.progress_timeout:
            taken = stall.taken_before(self.services.store.events(move_id))
        return stall.StallWatch.of(policy, time.monotonic(), taken=taken)

    def _follow(self, move_id, instance_uuid, source, migration, follower,
                watch):
        conf = self.services.conf.conductor
        deadline = time.monotonic() + conf.migration_timeout
        policy = self.services.conf.live_migration
        reported = 0.0
        next_report = time.monotonic() + policy.progress_report_interval
        next_abort_check = 0.0
        while True:
            status = migration['status'] if migration else None
            if status in (driver_base.MIGRATION_READY,
                          driver_base.MIGRATION_COMPLETED):
                self.update_progress(1.0)
                return migration
            if status != driver_base.MIGRATION_RUNNING:
                raise exception.MigrationFailed(
                    instance=instance_uuid,
                    reason='the hypervisor reports %s%s' % (status, _said(migration)))
            total = migration['total_mb'] or 1
            progress = min(0.99, 1.0 - migration['remaining_mb'] / total)
            now = time.monotonic()
            if progress - reported >= 0.01 and now >= next_report:
                # Each report is a database write, which takes a core from
                # the copy: only when it moved, and not at every pass.
                self.update_progress(progress)
                reported = progress
                next_report = now + policy.progress_report_interval
            move = None
            if now >= next_abort_check:     # a read; not on every poll
                next_abort_check = now + ABORT_CHECK_INTERVAL
                move = self.services.store.get(move_id)
            if move and move['abort_requested_by'] and \
                    self._cancel(instance_uuid, source):
                raise exception.MoveAborted(move=move_id,
                                            who=move['abort_requested_by'])
            for look, at in _looks(migration, now):
                if watch.due(look, at):
                    self._escalate(move_id, instance_uuid, source, watch, look)
            if time.monotonic() > deadline and self._cancel(instance_uuid, source):
                raise exception.MigrationFailed(
                    instance=instance_uuid,
                    reason='not converged after %ss' % conf.migration_timeout)
            # A wait that ends at each pass over the memory wakes this
            # thread, and its next wait reconnects, right where the copy
            # converges and the guest stops: only while the policy may act;
            # and one that looks at each pass takes QEMU's main loop and a
            # core from the copy: only once the policy counts them.
            ends_by = time.monotonic() + conf.poll_interval
            migration = follower.wait(
                migration, conf.poll_interval,
                wake_at_pass=watch.quiet_until() <= ends_by,
                look_at_passes=watch.counting(ends_by))

    def _asking(self, move_id):
        with self._asked_lock:
            self._asked[move_id] = True
            self._asked.move_to_end(move_id)
            while len(self._asked) > self.ASKED_KEPT:
                self._asked.popitem(last=False)

    def _cancel(self, instance_uuid, source):
        """Cancel, unless the driver switched over already (then the
        migration completes, and so does this step)."""
        try:
            self.driver.cancel_migration(instance_uuid, source=source)
        except exception.MigrationPastSwitchover as e:
            LOG.info('%s', e)
            return False
        return True

    def cancel_before_ponr(self, move):
        """Before a rollback of a move interrupted in this step: cancel the
        migration, or False when the driver had switched over already."""
        return self._cancel(move['instance_uuid'], move['source_host'])

    def _escalate(self, move_id, instance_uuid, source, watch, migration):
        """Take the stall policy's next action (a post-copy the migration
        cannot make is skipped for the one after it)."""
        policy = self.services.conf.live_migration
        store = self.services.store
        while True:
            action = watch.next_action(time.monotonic())
            if action is None:
                return
            detail = dict(stall.figures(migration), by=stall.BY,
                          progress_timeout=policy.progress_timeout)
            name = action.replace('_', '-')
            if action == 'abort':
                store.add_event(move_id, 'action', name, 'taken', phase=self.phase,
                                detail=detail)
                if not self._cancel(instance_uuid, source):
                    # Switched over meanwhile: it completes, and the
                    # history says the abort did not happen.
                    store.add_event(move_id, 'action', name, 'refused',
                                    phase=self.phase, detail=dict(
                                        detail, reason=stall.TOO_LATE))
                    return
                raise exception.MigrationStalled(
                    instance=instance_uuid, reason=stall.stall_reason(
                        action, watch, migration, policy.progress_timeout))
            if action == driver_base.TUNE_POST_COPY and \
                    migration.get('postcopy_permitted') is False:
                store.add_event(move_id, 'action', name, 'skipped', phase=self.phase,
                                detail=dict(detail, reason='post-copy not permitted'))
                continue
            params = ({'initial': policy.cpu_throttle_initial,
                       'increment': policy.cpu_throttle_increment}
                      if action == driver_base.TUNE_AUTO_CONVERGE else None)
            try:
                detail['result'] = self.driver.tune_migration(
                    instance_uuid, action, params, source=source)
            except exception.DriverError as e:
                # Converged meanwhile, or an agent too old: said, and the
                # next timeout takes the next action.
                LOG.warning('Move %s: stall action %s failed: %s', move_id, action, e)
                store.add_event(move_id, 'action', name, 'failed', phase=self.phase,
                                detail=dict(detail, reason=str(e)))
                return
            LOG.info('Move %s: no progress for %ss, %s taken (%s)', move_id,
                     policy.progress_timeout, action, detail)
            store.add_event(move_id, 'action', name, 'taken', phase=self.phase,
                            detail=detail)
            return

    def switched_over(self, move):
        """Whether the hosts say the move's guest was switched over (so it
        can only be rolled forward), for an operator's revert; False when
        they cannot tell (a host down): the revert's own look decides."""
        try:
            return choreography.switched_over(
                self.driver, move['instance_uuid'], move['source_host'],
                move['dest_host'])
        except exception.MoveOrchestratorException as e:
            LOG.info('Move %s: whether it was switched over is not known: '
                     '%s', move['id'], e)
            return False

    def revert(self, instance_uuid, source, **kwargs):
        self.driver.cancel_migration(instance_uuid, source=source)
