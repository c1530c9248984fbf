"""Writes a move's history as its TaskFlow engine runs.

Every atom state change and progress report becomes an event; the first task
of each step moves the move's state machine forward, and the flow starting to
revert moves it to ``reverting``.
"""

import functools
import traceback

from oslo_log import log as logging
from taskflow import flow as tf_flow
from taskflow.listeners import base as listener_base
from taskflow import states as tf_states
from taskflow import task as tf_task

from move_orchestrator.moves.types import base as types_base

LOG = logging.getLogger(__name__)


def failure_to_dict(failure):
    if failure is None:
        return None
    names = failure.to_dict().get('exc_type_names') or ['Exception']
    exc_type = names[0]
    tb = failure.traceback_str
    if not tb and failure.exc_info:
        tb = ''.join(traceback.format_exception(*failure.exc_info))
    return {'type': exc_type.rsplit('.', 1)[-1],
            'message': failure.exception_str, 'traceback': tb}


def _tasks(flow):
    for node, _meta in flow.iter_nodes():
        if isinstance(node, tf_flow.Flow):
            yield from _tasks(node)
        elif isinstance(node, tf_task.Task):
            yield node


class MoveRecordListener(listener_base.Listener):

    def __init__(self, engine, recorder, move, move_type, flow, stage):
        super().__init__(engine)
        self._reverts = stage == types_base.MAIN
        self._recorder = recorder
        self._move_id = move['id']
        self._move_type = move_type
        self._progress_hooks = []
        self.failures = []          # (task, error) of failed executes
        self.revert_failures = []   # (task, error) of failed reverts
        for node in _tasks(flow):
            cb = functools.partial(self._on_progress, node.name)
            node.notifier.register(tf_task.EVENT_UPDATE_PROGRESS, cb)
            self._progress_hooks.append((node, cb))

    def deregister(self):
        for node, cb in self._progress_hooks:
            node.notifier.deregister(tf_task.EVENT_UPDATE_PROGRESS, cb)
        self._progress_hooks = []
        super().deregister()

    def _phase(self, name):
        step = self._move_type.step_for(name)
        return step.task.phase if step else None

    def _task_receiver(self, state, details):
        name = details['task_name']
        error = None
        if state in (tf_states.FAILURE, tf_states.REVERT_FAILURE):
            error = failure_to_dict(details.get('result'))
            target = self.failures if state == tf_states.FAILURE \
                else self.revert_failures
            target.append((name, error))
        self._recorder.subtask_event(self._move_id, name, self._phase(name),
                                     state, error=error)
        if state == tf_states.RUNNING:
            step = self._move_type.step_for(name)
            if step is not None:
                move = self._recorder.advance(self._move_id, step.move_state)
                if self._reverts and move['abort_requested_by']:
                    # Stop after this step; the conductor then reverts.
                    self._engine.suspend()
        elif state == tf_states.REVERTING and self._reverts:
            # TaskFlow announces no flow-level REVERTING: the first atom
            # that reverts says it. (Cleanup atoms revert only to retry.)
            self._recorder.advance(self._move_id, types_base.REVERTING)

    def _retry_receiver(self, state, details):
        self._recorder.subtask_event(self._move_id, details['retry_name'],
                                     'cleanup', state)

    def _on_progress(self, name, event_type, details):
        self._recorder.subtask_event(self._move_id, name, self._phase(name),
                                     'PROGRESS',
                                     progress=details.get('progress'))
