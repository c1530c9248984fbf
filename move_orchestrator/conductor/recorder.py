"""Moves a move through its state machine and writes what happened."""

from oslo_log import log as logging

from move_orchestrator import exception
from move_orchestrator.moves import types as move_types

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

    def advance(self, move_id, target, context=None, **values):
        """Check the transition against the type's machine and record it,
        in one transaction. Returns the move as it was before."""
        def check(move):
            try:
                move_type = move_types.get(move['type'])
            except exception.UnknownMoveType:
                if target != 'failed':
                    raise   # a corrupt record can still be marked failed
            else:
                move_type.check_transition(move_id, move['state'], target)

        unlock = target in ('completed', 'reverted')
        move = self.store.set_state(move_id, target, context=context,
                                    unlock=unlock, check=check, **values)
        if move['state'] != target:
            LOG.info('Move %(id)s (%(type)s of %(instance)s): %(from)s -> '
                     '%(to)s%(reason)s',
                     {'id': move_id, 'type': move['type'],
                      'instance': move['instance_uuid'],
                      'from': move['state'], 'to': target,
                      'reason': ': %s' % values['reason']
                      if values.get('reason') else ''})
            self.notify(move_id, target)
        return move
