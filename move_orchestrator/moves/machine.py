"""A move type's state machine: verb events, every transition listed.

Built once per type from its declaration and copied per move (Ironic's
shape, on ``automaton``): a caller says what happened (``start``,
``advance``, ``abort``, ``fail``, ``resume``...) and the machine says where
the move goes; anything it does not list is refused. ``resume`` is the one
verb with several targets (a failed move resumes where it stopped), so the
target of a resume is named by the caller, from the record (see
``conductor/actions.py``), and must be one the machine lists.
"""

from automaton import exceptions as automaton_exc
from automaton import machines

from move_orchestrator import states


class Refused(Exception):
    """The machine does not list this event from this state."""


def _key(event, target):
    return event if target is None else '%s:%s' % (event, target)


class MoveMachine:
    def __init__(self, all_states, transitions):
        """``transitions``: (source, event, target) triples."""
        self.states = tuple(all_states)
        self.transitions = tuple(sorted(transitions))
        counts = {}
        for source, event, _target in self.transitions:
            counts[(source, event)] = counts.get((source, event), 0) + 1
        # Events with several targets from one state take theirs by name.
        self._named = {k for k, n in counts.items() if n > 1}
        self._fsm = machines.FiniteMachine()
        for state in self.states:
            self._fsm.add_state(state, terminal=state in (states.COMPLETED,
                                                          states.REVERTED))
        for source, event, target in self.transitions:
            named = (source, event) in self._named
            self._fsm.add_transition(source, target,
                                     _key(event, target if named else None))
        self._fsm.default_start_state = states.ACCEPTED
        self._fsm.freeze()

    def at(self, current):
        """A copy of the machine standing in ``current``."""
        fsm = self._fsm.copy(shallow=True)
        fsm.initialize(current)
        return fsm

    def target(self, current, event, target=None):
        """The state ``event`` leads to from ``current``; raises Refused."""
        if current not in self.states:
            raise Refused('unknown state %s' % current)
        named = (current, event) in self._named
        if named and target is None:
            raise Refused('%s from %s needs a target' % (event, current))
        try:
            fsm = self.at(current)  # refuses to stand in an end state
            fsm.process_event(_key(event, target if named else None))
        except (automaton_exc.NotFound, automaton_exc.InvalidState) as e:
            raise Refused(str(e)) from None
        if target is not None and fsm.current_state != target:
            raise Refused('%s from %s goes to %s' % (event, current,
                                                     fsm.current_state))
        return fsm.current_state


def build(forward, after_ponr):
    """The machine of a type whose non-terminal states are ``forward``
    (``accepted`` first, in execution order; ``after_ponr`` the ones after
    the point of no return, the last of them the one that completes)."""
    after_accept = forward[1:]
    before_ponr = [s for s in forward if s not in after_ponr]
    cleanup_state = forward[-1]
    triples = {(states.ACCEPTED, states.START, after_accept[0])}
    triples |= {(a, states.ADVANCE, b)
                for a, b in zip(after_accept, after_accept[1:])}
    triples.add((cleanup_state, states.COMPLETE, states.COMPLETED))
    for state in before_ponr:
        triples.add((state, states.ABORT, states.REVERTING))
        triples.add((state, states.REVERT, states.REVERTING))
    triples.add((states.REVERTING, states.DONE_REVERTING, states.REVERTED))
    for state in list(forward) + [states.REVERTING]:
        triples.add((state, states.FAIL, states.FAILED))
    # An operator's actions on a failed move: undo it, or carry on where
    # it stopped (any phase state; before the point of no return too).
    triples.add((states.FAILED, states.REVERT, states.REVERTING))
    for state in after_accept:
        triples.add((states.FAILED, states.RESUME, state))
    all_states = (list(forward) + [states.REVERTING]
                  + list(states.TERMINAL_STATES))
    return MoveMachine(all_states, triples)
