"""What a move type is: its steps as data, from which its flows and its
state machine are built.

A type lists its steps in order, each a step class and the move state the
move is in while that step runs; the step class says its phase. Two flows are
built, split at the point of no return: TaskFlow reverts a whole flow when a
retry gives up, and after the point of no return nothing may be reverted, so
what follows it runs as its own flow, rolled forward by a retry controller.
The point of no return is the end of switch-over unless the type names the
step after which it falls (``ponr_after``): for a live migration, the memory
copy, whose convergence the host side turns into the switch-over at once.
"""

import dataclasses
import functools
import time

from taskflow.patterns import linear_flow
from taskflow import retry

from move_orchestrator import exception
from move_orchestrator.moves import machine as move_machine

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


@functools.cache
def _rolled_forward(cls):
    """``cls`` whose revert does nothing: after the point of no return a
    retry runs the step again instead (its execute is idempotent). Made
    once per step class, not at every build of a cleanup flow."""
    if cls.phase == 'cleanup':
        return cls

    def revert(self, *args, **kwargs):
        """Rolled forward, never back."""
    return type(cls.__name__, (cls,), {'revert': revert,
                                       '__doc__': cls.__doc__})


@dataclasses.dataclass(frozen=True)
class MoveType:
    name: str
    steps: tuple
    live: bool = False
    #: the step (class name) whose success is the point of no return;
    #: None: the last one before cleanup
    ponr_after: str = None

    def __post_init__(self):
        phases = [s.cls.phase for s in self.steps]
        if phases != sorted(phases, key=PHASES.index):
            raise ValueError('%s: steps out of phase order' % self.name)
        if self.ponr_after is not None and self.step_for(
                self.ponr_after) is None:
            raise ValueError('%s: ponr_after names no step' % self.name)
        forward = [s for s in self.states
                   if s not in (REVERTING,) + TERMINAL_STATES]
        # Built once per type; each move uses a copy (machine.at()).
        object.__setattr__(self, 'machine', move_machine.build(
            forward, self.after_ponr_states))

    # -- the point of no return ----------------------------------------------
    @property
    def ponr_step(self):
        """The name of the step whose success is the point of no return."""
        if self.ponr_after is not None:
            return self.ponr_after
        before = [s for s in self.steps if s.cls.phase != 'cleanup']
        return before[-1].cls.__name__

    def _split(self):
        names = [s.cls.__name__ for s in self.steps]
        cut = names.index(self.ponr_step) + 1
        return self.steps[:cut], self.steps[cut:]

    def stage_steps(self, stage):
        """The steps a stage runs, in order."""
        return self._split()[STAGES.index(stage)]

    @property
    def after_ponr_states(self):
        """The states of the steps after the point of no return (no abort
        or revert leaves them)."""
        after = []
        for step in self._split()[1]:
            if step.move_state not in after:
                after.append(step.move_state)
        return tuple(after) or (self.cleanup_state,)

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
        """(source, event, target) triples: every transition allowed."""
        return self.machine.transitions

    def next_state(self, move_id, current, event, target=None):
        """Where ``event`` takes a move in ``current``; refused if the
        machine does not list it."""
        try:
            return self.machine.target(current, event, target)
        except move_machine.Refused:
            raise exception.InvalidStateTransition(
                move=move_id, move_type=self.name, source=current,
                event=event, target=target or 'anywhere') from None

    # -- the flows -----------------------------------------------------------
    def step_for(self, name):
        for step in self.steps:
            if step.cls.__name__ == name:
                return step
        return None

    def build_flow(self, stage, services):
        """The stage's flow; a pure function of the type and the stage."""
        conf = services.conf.conductor
        before, after = self._split()
        if stage == MAIN:
            flow = linear_flow.Flow('%s-%s' % (self.name, MAIN))
            for phase in PHASES[:-1]:
                steps = [s.cls(services) for s in before
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
                *[_rolled_forward(s.cls)(services) for s in after])
        raise ValueError('unknown stage %r' % stage)
