"""Drains: a host emptied as one task whose children are moves.

The host is disabled first (an evacuation drain's host is down already),
then the conductors' watch (``tick``) gives the drain its children a few at
a time: as many waiting for a slot as the host has outbound slots, so a
slot that frees is taken at once and the admission's and the board's looks
stay short however large the host. Each child's destination is picked when
it is made; the scheduler counts what the waiting ones will claim, so they
spread out. The limits (conductor/admission) decide when each runs. An operator
pauses (no new children; waiting ones stay waiting), resumes, or aborts it
(children not past their point of no return are aborted; the others
complete and stay moved). A child that fails, or an instance no move can be
made for, stops the drain making children; once those under way have ended
it is ``failed`` with them named; resuming it retries
those, but for a reverted child whose instance another move has taken off
the host since: nothing is left to move, and the drain records where it
went (``moved-elsewhere``) rather than failing on it again.

The decisions are made from the records, so any conductor of the database
may tick any drain: a child made twice for one instance is refused by the
instance's lock (InstanceBusy), and one for an instance that another move
took off the host since the drain listed it by the lock's check of the host
(InstanceMoved).
"""

import uuid

from oslo_log import log as logging

from move_orchestrator import exception
from move_orchestrator.moves import drain as drain_machine
from move_orchestrator.moves import request as move_request
from move_orchestrator import states

LOG = logging.getLogger(__name__)

# Children of one drain that may wait for a slot at once when its host's
# outbound moves are unlimited; see the module doc.
WAITING_UNLIMITED = 8
ENDED = (states.COMPLETED, states.REVERTED)


def latest_children(children):
    """{instance uuid: its newest child}: a retry supersedes a try."""
    latest = {}
    for child in children:
        latest[child['instance_uuid']] = child
    return latest


def child_failed(child):
    """A child that ended without moving its instance."""
    return child['state'] in (states.FAILED, states.REVERTED)


def _who(context):
    return getattr(context, 'user_id', None) or 'an operator'


class Drains:
    def __init__(self, services, abort_move, resume_move, post_move):
        self.services = services
        self.store = services.drains
        # The conductor's operator actions on one move.
        self._abort_move = abort_move
        self._resume_move = resume_move
        # The claim source's: a new child is run (or posted as a job) as
        # an accepted move is.
        self._post_move = post_move
        # Reverted children whose instance this process saw recorded as
        # moved elsewhere, by drain: a fact that does not change, so the
        # watch reads it once, not on every tick.
        self._elsewhere = {}

    # -- operators' actions ---------------------------------------------------
    def create(self, host, live=None, context=None):
        """A drain of host, ``accepted``; the host is disabled first."""
        if live not in (None, True, False):
            raise exception.InvalidParameter(name='live',
                                             reason='must be a boolean')
        inventory = self.services.inventory
        found = inventory.get_host(host)
        evacuate = found['state'] == 'down'
        if evacuate and live:
            raise exception.InvalidMoveRequest(
                reason='host %s is down: its instances are evacuated, not '
                       'live-migrated' % host)
        for other in self.store.list_unfinished():
            if other['host'] == host:
                raise exception.HostBusy(host=host, task=other['id'])
        if not evacuate:
            inventory.set_host_state(host, 'disabled')
        drain = self.store.create({
            'id': str(uuid.uuid4()), 'host': host, 'live': live,
            'evacuate': evacuate, 'refused': {},
            'total': len(inventory.list_instances(host=host))},
            context=context)
        LOG.info('Drain %s of %s accepted (%d instances%s)', drain['id'],
                 host, drain['total'], ', evacuations' if evacuate else '')
        return drain

    def _transition(self, drain_id, event, action, context=None, **values):
        try:
            return self.store.transition(drain_id, event,
                                         drain_machine.next_state,
                                         context=context, **values)
        except exception.InvalidDrainTransition:
            if action is None:
                raise
            raise exception.InvalidTaskAction(
                task=drain_id, action=action,
                reason='it is %s' % self.store.get(drain_id)['state'])

    def pause(self, drain_id, context=None):
        self._transition(drain_id, 'pause', 'paused', context,
                         reason='paused by %s' % _who(context))
        self.store.add_event(drain_id, 'action', 'pause', 'accepted',
                             context=context)

    def resume(self, drain_id, context=None):
        """Carry a paused drain on; a failed one retries its failed
        children (failed ones resumed, reverted ones moved again) and the
        instances no move could be made for."""
        before = self._transition(drain_id, 'resume', 'resumed', context,
                                  reason='resumed by %s' % _who(context),
                                  refused={})
        self.store.add_event(drain_id, 'action', 'resume', 'accepted',
                             context=context)
        if before['state'] != states.FAILED:
            return
        drain = self.store.get(drain_id)
        for child in latest_children(
                self.store.children(drain_id)).values():
            if child['state'] == states.FAILED:
                try:
                    self._resume_move(child['id'], context=context)
                except exception.InvalidTaskAction:
                    LOG.info('Child %s of drain %s was resumed already',
                             child['id'], drain_id)
            elif child_failed(child):
                self._make_child(drain, child['instance_uuid'])

    def abort(self, drain_id, context=None):
        who = _who(context)
        self._transition(drain_id, 'abort', 'aborted', context,
                         abort_requested_by=who)
        self.store.add_event(drain_id, 'action', 'abort', 'accepted',
                             context=context)
        self._abort_children(drain_id, context)

    def _abort_children(self, drain_id, context=None):
        """Abort every child not past its point of no return (again after
        a child made while the abort was being recorded)."""
        for child in self.store.children(drain_id):
            if child['state'] in states.TERMINAL_STATES or child['ponr'] \
                    or child['abort_requested_by']:
                continue
            try:
                self._abort_move(child['id'], context=context)
            except exception.InvalidTaskAction as exc:
                LOG.info('Child %s of drain %s goes on: %s', child['id'],
                         drain_id, exc)

    # -- the conductors' watch -------------------------------------------------
    def tick(self):
        """Advance every unfinished drain once; whether a child was made."""
        made = False
        drains = self.store.list_unfinished()
        # One read for every drain: the watch runs several times a second.
        children = self.store.children_of([d['id'] for d in drains])
        # Ticks of one process may run at once (its watch thread, an
        # operator's drain_host): another may have dropped it already.
        for gone in set(self._elsewhere) - {d['id'] for d in drains}:
            self._elsewhere.pop(gone, None)
        for drain in drains:
            try:
                made = self._advance(drain, children[drain['id']]) or made
            except exception.InvalidDrainTransition as exc:
                LOG.debug('Drain %s moved on meanwhile: %s', drain['id'], exc)
            except Exception:
                LOG.exception('Drain %s could not be advanced; trying again',
                              drain['id'])
        return made

    def _waiting_cap(self, drain):
        """Children of the drain that may wait for a slot at once: its
        host's outbound slots for the moves it makes."""
        if drain['evacuate']:
            limit = 0     # nothing leaves a down host: inbound limits only
        else:
            limits = self.services.conf.limits
            slots = [limits.max_outbound_per_host]
            if drain['live'] is not False:
                slots.append(limits.max_outbound_live_per_host)
            slots = [n for n in slots if n]
            limit = min(slots) if slots else 0
        return limit or WAITING_UNLIMITED

    def _advance(self, drain, children):
        drain_id = drain['id']
        if drain['state'] == states.ACCEPTED:
            self.store.transition(drain_id, 'start', drain_machine.next_state)
            drain = self.store.get(drain_id)
        latest = latest_children(children)
        active = [c for c in latest.values()
                  if c['state'] not in states.TERMINAL_STATES]
        if drain['state'] == states.ABORTING:
            self._abort_children(drain_id)
            if not active:
                self.store.transition(
                    drain_id, 'finish', drain_machine.next_state,
                    reason=self._abort_summary(drain, latest))
            return False
        failed = sorted(c['id'] for c in latest.values() if child_failed(c)
                        and not self._moved_elsewhere(drain, c))
        if drain['state'] in (states.DRAINING, states.PAUSED) and (
                failed or drain['refused']):
            if active:
                # It cannot complete: no new child, and it fails once the
                # children under way have ended, so that a failed drain has
                # nothing of it running (an operator acts on a settled host).
                return False
            self.store.transition(drain_id, 'fail', drain_machine.next_state,
                                  reason=self._failure(drain, failed))
            return False
        if drain['state'] != states.DRAINING:
            return False
        waiting = sum(c['admitted_at'] is None for c in active)
        cap = self._waiting_cap(drain)
        if waiting >= cap:
            # No child to make, and not finished: the host is not read.
            if drain['waiting']:
                self.store.update(drain_id, waiting=None)
            return False
        remaining = [i for i in self.services.inventory.list_instances(
            host=drain['host'])
            if i['uuid'] not in latest or
            latest[i['uuid']]['state'] in ENDED]
        if not remaining and not active:
            self.store.transition(
                drain_id, 'finish', drain_machine.next_state,
                reason='%d instances moved off %s' % (
                    sum(c['state'] == states.COMPLETED
                        for c in latest.values()), drain['host']))
            return False
        made, busy = False, []
        for instance in remaining:
            if waiting >= cap:
                break
            if instance['move_id']:
                busy.append(instance)   # another task moves it: later
            elif self._make_child(drain, instance['uuid']):
                waiting += 1
                made = True
        blocked = None
        if busy and not made and not active:
            blocked = 'instance %s is being moved by task %s' % (
                busy[0]['uuid'], busy[0]['move_id'])
        if blocked != drain['waiting']:
            self.store.update(drain_id, waiting=blocked)
        return made

    def _moved_elsewhere(self, drain, child):
        """Whether a reverted child's instance has left the drained host
        (another move took it); recorded on the drain the first time."""
        if child['state'] != states.REVERTED:
            return False
        known = self._elsewhere.setdefault(drain['id'], set())
        if child['id'] in known:
            return True
        try:
            host = self.services.inventory.get_instance(
                child['instance_uuid'])['host']
        except exception.InstanceNotFound:
            host = None     # deleted: nothing to move either
        if host == drain['host']:
            return False
        recorded = self.store.events_of([drain['id']])[drain['id']]
        if not any(e['kind'] == 'child' and
                   (e['detail'] or {}).get('child') == child['id']
                   for e in recorded):
            LOG.info('Drain %s: instance %s of reverted child %s is on %s '
                     'now; nothing to retry', drain['id'],
                     child['instance_uuid'], child['id'], host)
            self.store.add_event(drain['id'], 'child', 'moved-elsewhere',
                                 'skipped', detail={
                                     'child': child['id'],
                                     'instance': child['instance_uuid'],
                                     'host': host})
        known.add(child['id'])
        return True

    def _make_child(self, drain, instance_uuid):
        """A move of the instance, child of the drain; False if none."""
        request = {'instance': instance_uuid}
        instance = self.services.inventory.get_instance(instance_uuid)
        if instance['host'] != drain['host']:
            # Another move took it off the host since the tick's listing.
            return False
        if drain['live'] is False or (
                drain['live'] and instance['power_state'] != 'running'):
            request['live'] = False   # a stopped guest has nothing to keep
        elif drain['live'] and not drain['evacuate']:
            request['live'] = True
        try:
            values, params = move_request.build_move(
                self.services.inventory, self.services.conf, request,
                self.services.allocation_ratios)
            if values['source_host'] != drain['host']:
                return False   # moved off since the read above
            values.update(params=params, drain_id=drain['id'],
                          user_id=drain['user_id'],
                          project_id=drain['project_id'])
            move, created = self.services.store.create(values)
        except exception.InstanceBusy:
            # Another conductor made it, or another task moves it (or moved
            # it off the host: InstanceMoved, checked with the lock).
            return False
        except exception.MoveOrchestratorException as exc:
            LOG.warning('Drain %s: no move for %s: %s', drain['id'],
                        instance_uuid, exc)
            refused = dict(self.store.get(drain['id'])['refused'] or {})
            refused[instance_uuid] = str(exc)
            self.store.update(drain['id'], refused=refused)
            return False
        if created:
            LOG.info('Drain %s: move %s (%s of %s to %s)', drain['id'],
                     move['id'], move['type'], instance_uuid,
                     move['dest_host'])
            self._post_move(move)
        return created

    @staticmethod
    def _failure(drain, failed):
        parts = []
        if failed:
            parts.append('child %s failed' % ', '.join(failed))
        for instance, why in sorted((drain['refused'] or {}).items()):
            parts.append('no move for instance %s: %s' % (instance, why))
        return '%s; resume the drain to retry' % '; '.join(parts)

    @staticmethod
    def _abort_summary(drain, latest):
        moved = sorted(c['instance_uuid'] for c in latest.values()
                       if c['state'] == states.COMPLETED)
        undone = sum(1 for c in latest.values()
                     if c['state'] == states.REVERTED)
        failed = sorted(c['id'] for c in latest.values()
                        if c['state'] == states.FAILED)
        text = ('aborted by %s: %d moved and stay moved%s, %d reverted, %d '
                'not started' % (drain['abort_requested_by'], len(moved),
                                 ' (%s)' % ', '.join(moved) if moved else '',
                                 undone,
                                 max(0, drain['total'] - len(latest))))
        if failed:
            text += '; failed children to see to: %s' % ', '.join(failed)
        return text + '; host %s stays disabled' % drain['host'] \
            if not drain['evacuate'] else text
