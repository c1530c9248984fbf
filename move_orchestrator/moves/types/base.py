"""What a move type is: its steps as data, from which its flows and its
state machine are built.

A type lists its steps in order, each a step class and the move state the
move is in while that step runs; the step class says its phase. Two flows are
built, split at the point of no return (the end of switch-over): TaskFlow
reverts a whole flow when a retry gives up, and after the point of no return
nothing may be reverted, so cleanup runs as its own flow, rolled forward by a
retry controller.
"""

import dataclasses
import time

from automaton import exceptions as automaton_exc
from automaton import machines
from taskflow.patterns import linear_flow
from taskflow import retry

from move_orchestrator import exception

from move_orchestrator.states import (  # noqa: F401 (the types' API)
    ACCEPTED, COMPLETED, FAILED, PHASE_STATES, PHASES, REVERTED, REVERTING,
    TERMINAL_STATES)

MAIN, CLEANUP = 'main', 'cleanup'
STAGES = (MAIN, CLEANUP)


@dataclasses.dataclass(frozen=True)
class Step:
    cls: type   # the MoveStep subclass TaskFlow runs
    state: str = None

    @property
    def move_state(self):
        return self.state or PHASE_STATES[self.cls.phase]


class RetryCleanup(retry.Times):
    """Times, with a pause between attempts (the world may need a moment)."""

    def __init__(self, attempts, delay, **kwargs):
        super().__init__(attempts=attempts, **kwargs)
        self._delay = delay

    def execute(self, history, *args, **kwargs):
        if len(history) and self._delay:
            time.sleep(self._delay)
        return super().execute(history, *args, **kwargs)


@dataclasses.dataclass(frozen=True)
class MoveType:
    name: str
    steps: tuple
    live: bool = False

    def __post_init__(self):
        phases = [s.cls.phase for s in self.steps]
        if phases != sorted(phases, key=PHASES.index):
            raise ValueError('%s: steps out of phase order' % self.name)

    # -- the state machine ---------------------------------------------------
    @property
    def states(self):
        """The type's states in execution order, then the shared ones."""
        ordered = [ACCEPTED]
        for step in self.steps:
            if step.move_state not in ordered:
                ordered.append(step.move_state)
        return tuple(ordered + [REVERTING] + list(TERMINAL_STATES))

    @property
    def cleanup_state(self):
        return PHASE_STATES['cleanup']

    def transitions(self):
        """(source, target) pairs; the event of a transition is its target."""
        forward = [s for s in self.states if s not in
                   (REVERTING,) + TERMINAL_STATES]
        pairs = set(zip(forward, forward[1:]))
        pairs.add((self.cleanup_state, COMPLETED))
        before_ponr = [s for s in forward if s != self.cleanup_state]
        for state in forward:
            pairs.add((state, FAILED))        # unrecoverable, or retries out
        for state in before_ponr:
            pairs.add((state, REVERTING))
        pairs |= {(REVERTING, REVERTED), (REVERTING, FAILED),
                  (FAILED, REVERTING)}        # operator revert
        for state in forward[1:]:
            pairs.add((FAILED, state))        # operator resume
            pairs.add((state, state))         # resumed where it stopped
        return sorted(pairs)

    def machine(self, current=ACCEPTED):
        m = machines.FiniteMachine()
        for state in self.states:
            m.add_state(state, terminal=state in (COMPLETED, REVERTED))
        for source, target in self.transitions():
            m.add_transition(source, target, target)
        m.default_start_state = ACCEPTED
        m.initialize(current)
        return m

    def check_transition(self, move_id, current, target):
        try:
            self.machine(current).process_event(target)
        except (automaton_exc.NotFound, automaton_exc.InvalidState):
            raise exception.InvalidStateTransition(
                move=move_id, move_type=self.name, source=current,
                target=target)

    # -- the flows -----------------------------------------------------------
    def step_for(self, name):
        for step in self.steps:
            if step.cls.__name__ == name:
                return step
        return None

    def build_flow(self, stage, services):
        """The stage's flow; a pure function of the type and the stage."""
        conf = services.conf.conductor
        if stage == MAIN:
            flow = linear_flow.Flow('%s-%s' % (self.name, MAIN))
            for phase in PHASES[:-1]:
                steps = [s.cls(services) for s in self.steps
                         if s.cls.phase == phase]
                if steps:
                    flow.add(linear_flow.Flow(phase).add(*steps))
            return flow
        if stage == CLEANUP:
            return linear_flow.Flow(
                '%s-%s' % (self.name, CLEANUP),
                retry=RetryCleanup(conf.cleanup_attempts,
                                   conf.cleanup_retry_delay,
                                   name='RetryCleanup')).add(
                *[s.cls(services) for s in self.steps
                  if s.cls.phase == 'cleanup'])
        raise ValueError('unknown stage %r' % stage)
