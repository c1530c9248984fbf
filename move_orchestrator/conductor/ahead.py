"""The cleanup stage's engine, loaded while the point-of-no-return step runs.

Passing the point of no return then costs its one commit, not that commit
and a load (the flow built, compiled, its atoms saved) in series after it.
The load runs in a thread of its own once the step says its wait is under
way (steps/base.py UNDER_WAY: a live migration's copy runs, the conductor
waiting on the host side), or at its first progress report between 0 and
1; started with the step, it took the CPU from the calls that start the
copy. A copy shorter than the progress report interval reports nothing,
and the stage was loaded after it: 3 ms more between the copy's end and
the switch-over step, traced. The engine is handed over only if the main
stage succeeded; an error of the load ahead (a lost claim, the database
away) is dropped, and the stage is loaded in series as before, which meets
that error again where it is handled.
"""

import threading

from oslo_log import log as logging
from taskflow.listeners import base as listener_base
from taskflow import states as tf_states
from taskflow import task as tf_task

from move_orchestrator.conductor import flowstate
from move_orchestrator.steps import base as steps_base

LOG = logging.getLogger(__name__)


class StageAhead:
    """``load()`` run once in a thread, from the first progress under
    way of ``step`` in any run of the main stage's engine."""

    def __init__(self, load, step, move_id):
        self._load = load
        self._step = step
        self._move_id = move_id
        self._thread = None
        self._loaded = None
        self._lock = threading.Lock()

    def listener(self, engine):
        """A listener on one run of the main engine: starts the load."""
        return _StepProgress(engine, self._step, self._start)

    def _start(self):
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, daemon=True,
                name='load-ahead-%s' % self._move_id)
            self._thread.start()

    def _run(self):
        try:
            self._loaded = self._load()
        except Exception as e:   # noqa: B902 - loaded again in series
            LOG.debug('Move %s: the cleanup stage was not loaded ahead '
                      '(%s: %s); it is loaded when it runs', self._move_id,
                      type(e).__name__, e)

    def take(self):
        """What the load returned, or None (not started, or failed); it
        waits for a load under way, so no write of it outlives the run."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return None
        thread.join()
        loaded, self._loaded = self._loaded, None
        if loaded is not None:
            LOG.debug('Move %s: its cleanup stage was loaded ahead',
                      self._move_id)
        return loaded


class _StepProgress(listener_base.Listener):
    """Calls ``started()`` when ``step`` says it is under way, and on each
    of its progresses between 0 and 1 (both told to the task's own
    notifier, not the engine's)."""

    def __init__(self, engine, step, started):
        super().__init__(engine, task_listen_for=(tf_states.RUNNING,),
                         flow_listen_for=(), retry_listen_for=())
        self._step = step
        self._started = started
        self._task = None
        self._task_callbacks = []   # (event, callback) on the task's notifier

    def _task_receiver(self, state, details):
        if self._task is None and details['task_name'] == self._step:
            for atom in flowstate.atoms(self._engine):
                if atom.name == self._step and \
                        isinstance(atom, tf_task.Task):
                    self._task_callbacks = [
                        (event, callback) for event, callback in (
                            (tf_task.EVENT_UPDATE_PROGRESS, self._progress),
                            (steps_base.UNDER_WAY, self._under_way))
                        if atom.notifier.can_be_registered(event)]
                    for event, callback in self._task_callbacks:
                        atom.notifier.register(event, callback)
                    self._task = atom

    def _progress(self, event_type, details):
        # 0.0 is TaskFlow's own, as the step starts; 1.0 its end.
        if 0.0 < details.get('progress', 0.0) < 1.0:
            self._started()

    def _under_way(self, event_type, details):
        self._started()

    def deregister(self):
        super().deregister()
        if self._task is not None:
            for event, callback in self._task_callbacks:
                self._task.notifier.deregister(event, callback)
            self._task, self._task_callbacks = None, []
