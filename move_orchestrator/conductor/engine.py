"""The TaskFlow engine a move's stage runs on: the serial engine, without
the progress TaskFlow reports by itself.

TaskFlow saves a task's progress of 0.0 as it starts and of 1.0 as it
ends (or reverts): two saves of the atom detail per step, each a copy of
it, a connection, and an encoding of the whole row for the persistence
backend to find there is nothing to commit (about 0.1 ms each, 2.6 ms of
a live migration's critical path). Nobody reads those values: the task
record's progress comes from the history, and a stage's listeners hear
the notifications, which still go out. So they are not recorded, not even
in memory (kept there, the flow's last save would write every atom again
for them). An atom's progress is what its step last reported, with
details or between the two ends.
"""

from taskflow.engines.action_engine import engine as tf_engine
from taskflow import storage as tf_storage
from taskflow.utils import misc

# The values TaskFlow reports around every task, without details.
AUTOMATIC_PROGRESS = (0.0, 1.0)


class StageStorage(tf_storage.Storage):

    def set_task_progress(self, task_name, progress, details=None):
        if details or progress not in AUTOMATIC_PROGRESS:
            super().set_task_progress(task_name, progress, details)


class StageEngine(tf_engine.SerialActionEngine):

    @misc.cachedproperty
    def storage(self):
        # As TaskFlow's own: scopes are known once the flow is compiled.
        def scopes_of(atom_name):
            if self._compiled:
                return self._runtime.fetch_scopes_for(atom_name)
            return None

        return StageStorage(self._flow_detail, backend=self._backend,
                            scope_fetcher=scopes_of)


def load(flow, flow_detail, backend):
    """The engine of one stage of a move, on its persisted flow detail."""
    return StageEngine(flow, flow_detail, backend, {})
