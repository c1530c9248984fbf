"""Fault injection points, for tests and for operators rehearsing failures.

Specs come from config: ``[fake_driver] faults`` for driver operations
(``OPERATION[@HOST]=ACTION``) and ``[fault_injection] task_faults`` for sub-tasks
(``TASK.METHOD[.WHEN]=ACTION``). Actions: ``fail`` raises InjectedFault,
``hang`` blocks until the process dies, ``kill`` SIGKILLs the process (for
crash tests), ``fail_once`` raises the first time the point is reached in
this process only (a transient fault, for retries), ``slow`` takes
SLOW_SECONDS and goes on (a move that stays in flight long enough for an
operator, or a test, to act on it).
"""

import os
import signal
import time

from oslo_log import log as logging

from move_orchestrator import exception

LOG = logging.getLogger(__name__)
ACTIONS = ('fail', 'fail_once', 'hang', 'kill', 'slow')
SLOW_SECONDS = 2.0
_FIRED = set()


def parse(specs):
    """'a@h=fail' -> {'a@h': 'fail'}; raises ValueError on a bad spec."""
    parsed = {}
    for spec in specs or ():
        point, sep, action = spec.strip().rpartition('=')
        if not sep or not point or action not in ACTIONS:
            raise ValueError('bad fault spec %r: want POINT=%s'
                             % (spec, '|'.join(ACTIONS)))
        parsed[point] = action
    return parsed


def trigger(point, action):
    if action == 'fail_once':
        if point in _FIRED:
            return
        _FIRED.add(point)
    LOG.warning('Injected fault %s at %s', action, point)
    if action in ('fail', 'fail_once'):
        raise exception.InjectedFault(point=point)
    if action == 'kill':
        os.kill(os.getpid(), signal.SIGKILL)
    if action == 'slow':
        time.sleep(SLOW_SECONDS)
    while action == 'hang':
        time.sleep(3600)


def maybe_trigger(faults, *points):
    """Trigger the first of points that has a fault."""
    for point in points:
        action = faults.get(point)
        if action:
            trigger(point, action)
            return


def reset():
    """Forget which fail_once points fired (a new test, a new process)."""
    _FIRED.clear()
