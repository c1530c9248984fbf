"""The drain's state machine: verb events, every transition listed.

A drain is a parent task whose children are the moves of every instance on
one host (conductor/drains.py runs it). It ends in the terminal states every
task shares: ``completed`` (the host is empty), ``reverted`` (aborted: what
had not passed its point of no return was undone; its record names what
stays moved) or ``failed`` (a child failed or no move could be made for an
instance, and no child runs any more; resume retries those).

The machine is built once and copied per check, as Ironic does.
"""

from automaton import exceptions as automaton_exc
from automaton import machines

from move_orchestrator import exception
from move_orchestrator.states import (
    ABORTING, ACCEPTED, COMPLETED, DRAINING, FAILED, PAUSED, REVERTED)

TYPE = 'drain'
STATES = (ACCEPTED, DRAINING, PAUSED, ABORTING, COMPLETED, FAILED, REVERTED)
#: A failed drain has not ended: it is resumed or aborted.
UNFINISHED = tuple(s for s in STATES if s not in (COMPLETED, REVERTED))

# (source, event, target)
TRANSITIONS = (
    (ACCEPTED, 'start', DRAINING),     # a conductor takes it up
    (ACCEPTED, 'pause', PAUSED),
    (ACCEPTED, 'abort', ABORTING),
    (DRAINING, 'pause', PAUSED),       # no new children
    (DRAINING, 'finish', COMPLETED),   # every instance moved
    (DRAINING, 'fail', FAILED),        # a child failed or was refused, none runs
    (DRAINING, 'abort', ABORTING),
    (PAUSED, 'resume', DRAINING),
    (PAUSED, 'fail', FAILED),          # a child running when paused
    (PAUSED, 'abort', ABORTING),
    (FAILED, 'resume', DRAINING),      # the failed children again
    (FAILED, 'abort', ABORTING),
    (ABORTING, 'finish', REVERTED),    # no child left running
)
EVENTS = tuple(sorted({event for _s, event, _t in TRANSITIONS}))


def _build():
    machine = machines.FiniteMachine()
    for state in STATES:
        machine.add_state(state, terminal=state in (COMPLETED, REVERTED))
    for source, event, target in TRANSITIONS:
        machine.add_transition(source, target, event)
    machine.default_start_state = ACCEPTED
    machine.freeze()
    return machine


_MACHINE = _build()


def next_state(drain_id, state, event):
    """The state ``event`` leads to from ``state``; a typed error for a
    transition the machine does not list."""
    machine = _MACHINE.copy()
    try:
        machine.initialize(state)
        machine.process_event(event)
    except (automaton_exc.NotFound, automaton_exc.InvalidState):
        raise exception.InvalidDrainTransition(drain=drain_id, event=event,
                                               state=state)
    return machine.current_state
