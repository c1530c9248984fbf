"""Moves a move through its state machine and writes what happened.

Callers say what happened (an event); the type's machine says where the
move goes, in the transaction that records it.
"""

from oslo_log import log as logging

from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from move_orchestrator import states

LOG = logging.getLogger(__name__)


class Recorder:
    def __init__(self, store):
        self.store = store
        # Called as observer(move_id, new_state) once a change is recorded
        # (notifications); an observer's error never stops the move.
        self.observers = []

    def notify(self, move_id, state):
        for observer in list(self.observers):
            try:
                observer(move_id, state)
            except Exception:
                LOG.exception('Observer %r failed for move %s -> %s',
                              observer, move_id, state)

    def fire(self, move_id, event, target=None, expect=None, context=None,
             **values):
        """Process ``event`` on the move's machine and record the change,
        in one transaction. Returns the move as it was before.

        ``target`` names the state of a verb with several (``resume``);
        ``expect`` is the state the caller means to reach: if the move is
        in it already nothing changes (a step run again after a crash),
        and an event leading elsewhere is refused.
        """
        def decide(move):
            if expect is not None and move['state'] == expect:
                return None
            try:
                move_type = move_types.get(move['type'])
            except exception.UnknownMoveType:
                if event == states.FAIL:
                    return states.FAILED  # a corrupt record can still fail
                raise
            return move_type.next_state(move_id, move['state'], event,
                                        target or expect)
        # An event is meant to change the move: no read to decide first.
        return self._record(move_id, decide, context, values,
                            read_first=False)

    def enter_step(self, move_id, state, context=None, save=None):
        """A step whose move state is ``state`` starts: ``start`` from
        ``accepted``, else ``advance``; nothing if the move is there.

        With ``save`` (the persistence backend's transaction saving the
        step's start) the change commits with the step, and is announced
        once that save committed: an observer never hears of a change that
        was rolled back, and a save retried writes it again.
        """
        def decide(move):
            if move['state'] == state:
                return None
            event = states.START if move['state'] == states.ACCEPTED \
                else states.ADVANCE
            return move_types.get(move['type']).next_state(
                move_id, move['state'], event, state)
        if save is None:
            return self._record(move_id, decide, context, {})
        move, target = self.store.set_state(
            move_id, decide, context=context, connection=save.connection)
        if target is not None:
            save.after_commit(
                lambda: self._announce(move_id, move, target, {}))
        return move

    def _record(self, move_id, decide, context, values, read_first=True):
        move, target = self.store.set_state(move_id, decide, context=context,
                                            read_first=read_first, **values)
        if target is not None:
            self._announce(move_id, move, target, values)
        return move

    def _announce(self, move_id, move, target, values):
        LOG.info('Move %(id)s (%(type)s of %(instance)s): %(from)s -> '
                 '%(to)s%(reason)s',
                 {'id': move_id, 'type': move['type'],
                  'instance': move['instance_uuid'],
                  'from': move['state'], 'to': target,
                  'reason': ': %s' % values['reason']
                  if values.get('reason') else ''})
        self.notify(move_id, target)
