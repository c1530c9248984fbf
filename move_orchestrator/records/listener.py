"""Moves a move's state machine along as its TaskFlow engine runs.

The sub-task history itself is written by :mod:`.history`, in the same
transaction as each atom save. Here the first task of each step moves the
move's state forward, the first revert moves it to ``reverting``, failures
are collected for the final record, and an operator's abort suspends the
engine after the step that is running. A failure of the point-of-no-return
step once the world has passed that point (``past_ponr()``: a live
migration switched over by its host) is not reverted: the engine is
suspended before any revert, and the conductor runs the step again.
"""

from oslo_log import log as logging
from taskflow.listeners import base as listener_base
from taskflow import states as tf_states

from move_orchestrator import exception
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.records import history
from move_orchestrator import states

LOG = logging.getLogger(__name__)


class MoveRecordListener(listener_base.Listener):

    def __init__(self, engine, recorder, move, move_type, stage,
                 past_ponr=None):
        super().__init__(engine)
        self._past_ponr = past_ponr
        self.rolled_forward = False     # suspended to run forward again
        self._reverts = stage == types_base.MAIN
        self._recorder = recorder
        self._move_id = move['id']
        self._move_type = move_type
        self._state = None          # the move's state as this run set it
        # (state, abort_requested_by) as on_start wrote and read them in
        # a step's save, once it committed: the notification that follows
        # needs no read of its own.
        self._entered = None
        self.failures = []          # (task, error) of failed executes
        self.revert_failures = []   # (task, error) of failed reverts

    def on_start(self, save, atom_detail):
        """In the transaction saving a step's start (the history writer's
        ``on_start``): the move enters the step's state in the same commit.
        The notification that follows the commit then needs no read."""
        step = self._move_type.step_for(atom_detail.name)
        if step is None or self._state == types_base.REVERTING or \
                step.move_state == self._state:
            return
        # Known once committed: a save retried after a lost commit calls
        # this again, and the lost attempt leaves nothing behind.
        self._entered = None
        try:
            move = self._recorder.enter_step(self._move_id, step.move_state,
                                             save=save)
        except exception.InvalidStateTransition:
            return      # left to the notification, which logs why
        entered = (step.move_state, move['abort_requested_by'])
        save.after_commit(lambda: setattr(self, '_entered', entered))

    def _task_receiver(self, state, details):
        name = details['task_name']
        if state == tf_states.FAILURE and self._reverts and \
                name == self._move_type.ponr_step and \
                self._past_ponr is not None and self._past_ponr():
            LOG.warning('Move %s: %s failed past the point of no return: '
                        'run forward again, not reverted', self._move_id, name)
            self.rolled_forward = True
            self._engine.suspend()
        elif state in (tf_states.FAILURE, tf_states.REVERT_FAILURE):
            error = history.failure_to_dict(details.get('result'))
            target = self.failures if state == tf_states.FAILURE \
                else self.revert_failures
            target.append((name, error))
        elif state == tf_states.RUNNING:
            step = self._move_type.step_for(name)
            if step is not None and step.move_state != self._state:
                # A new state (most steps share their phase's): recorded
                # in the step's save (on_start), else here; an operator's
                # abort is looked for at the same read.
                entered, self._entered = self._entered, None
                if entered and entered[0] == step.move_state:
                    aborted_by = entered[1]
                else:
                    aborted_by = self._recorder.enter_step(
                        self._move_id, step.move_state)['abort_requested_by']
                self._state = step.move_state
                if self._reverts and aborted_by:
                    # Stop after this step; the conductor then reverts.
                    self._engine.suspend()
        elif state == tf_states.REVERTING and self._reverts and \
                not self.rolled_forward:
            # TaskFlow announces no flow-level REVERTING: the first atom
            # that reverts says it. (Cleanup atoms revert only to retry.)
            # Why is recorded now, so that it survives a kill mid-revert.
            values = {}
            if self.failures:
                step, error = self.failures[0]
                values = {'failed_step': step,
                          'reason': '%s failed: %s: %s' % (
                              step, error['type'], error['message'])}
            self._recorder.fire(self._move_id, states.REVERT,
                                expect=states.REVERTING, **values)
            self._state = types_base.REVERTING
