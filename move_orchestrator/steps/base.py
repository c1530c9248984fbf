"""The base of every step: one TaskFlow task of a move's flow.

"Task" in this project is a move's record (the task API); what TaskFlow runs
are steps, named verb-noun. A step gets the process's services (driver,
inventory, config) at construction, because TaskFlow persists only names and
values, never objects; the move type rebuilds the steps from the stored
move after a crash. ``execute`` and ``revert`` of every subclass are wrapped
with the fault injection points ``Step.execute.before`` / ``.after`` (and
``revert``), which the tests and the crash tests use; a database outage
inside either is waited out and the step run again, not failed.
"""

import functools
import inspect

from oslo_log import log as logging
from taskflow import task

from move_orchestrator.db import outage
from move_orchestrator.drivers import choreography
from move_orchestrator import exception
from move_orchestrator import faults

LOG = logging.getLogger(__name__)

#: A step's own event, not persisted: its long wait on the world has begun
#: (a live migration's copy runs). The conductor does work of its own
#: meanwhile (conductor/ahead.py); a progress report would be a database
#: write, and a short copy makes none (progress_report_interval).
UNDER_WAY = 'under_way'


def _with_fault_points(func, method):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        name = type(self).__name__
        points = self.services.task_faults
        if points:
            faults.maybe_trigger(points, '%s.%s.before' % (name, method),
                                 '%s.%s' % (name, method))
        # A database outage inside the step is not its failure (nothing
        # to revert): it waits until the database is back and runs again,
        # as steps are idempotent (db/outage.py).
        result = outage.call(func, self, *args, what='step %s' % name,
                             **kwargs)
        if points:
            faults.maybe_trigger(points, '%s.%s.after' % (name, method))
        return result
    return wrapper


class MoveStep(task.Task):
    #: the phase of the five this step belongs to
    phase = None
    TASK_EVENTS = task.Task.TASK_EVENTS + (UNDER_WAY,)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for method in ('execute', 'revert'):
            func = getattr(cls, method)
            func = getattr(func, '__unwrapped_step__', func)
            wrapped = _with_fault_points(func, method)
            wrapped.__unwrapped_step__ = func
            # TaskFlow reads the signature of execute and revert for every
            # step it builds, every move: known once, it is not unwrapped
            # and parsed again each time.
            wrapped.__signature__ = inspect.signature(func)
            setattr(cls, method, wrapped)

    def __init__(self, services, **kwargs):
        kwargs.setdefault('name', type(self).__name__)
        super().__init__(**kwargs)
        self.services = services

    @property
    def driver(self):
        return self.services.driver

    @property
    def network(self):
        return self.services.network

    @property
    def inventory(self):
        return self.services.inventory

    def under_way(self):
        """Tell the step's listeners that its long wait has begun."""
        self.notifier.notify(UNDER_WAY, {'task_name': self.name})

    def ran_before(self, move_id):
        """Whether the move may have run before this claim of it (resumed,
        taken over): only then can its hosts be past what its records
        say."""
        return self.services.store.fences.may_have_run(move_id)

    def domain_left_on(self, instance_uuid, host):
        """For a revert: host's domain (choreography.domain_on), or None
        when there is none or host is marked down, which a revert leaves
        as it is: its agent cleans up when it comes back."""
        try:
            return choreography.domain_on(self.driver, instance_uuid, host)
        except exception.HostUnavailable as e:
            LOG.info('%s: %s left as it is: %s', instance_uuid, host, e)
            return None

    def revert(self, *args, **kwargs):
        """Most checks change nothing, so there is nothing to undo."""
