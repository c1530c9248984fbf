"""The kill points: where the crash tests SIGKILL a conductor, and what
the resumption rules say the move must end as then."""

import collections

from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.steps import base as step_base

POLICIES = ('resume', 'rollback')
TYPES = ('live-migrate', 'cold-migrate', 'resize', 'evacuate', 'live-resize')
RECOVERY_TIMEOUT = 60


def has_revert(step_cls):
    """Whether the task has something to undo (its own revert)."""
    func = getattr(step_cls.revert, '__unwrapped_step__', step_cls.revert)
    return func is not step_base.MoveStep.revert


class KillPoint(collections.namedtuple(
        'KillPoint', 'type task method when policy')):

    @property
    def id(self):
        return '%s-%s-%s.%s-%s' % (self.type, self.task, self.method,
                                   self.when, self.policy)

    @property
    def phase(self):
        return move_types.get(self.type).step_for(self.task).cls.phase

    @property
    def before_ponr(self):
        return self.task in main_tasks(self.type)

    @property
    def failing_task(self):
        """For a revert point: the task whose failure makes the move
        revert: the last task before the point of no return (which fails
        after its work when it is the one whose revert is killed); in
        cleanup, the last cleanup task, whose failure makes the retry
        controller revert the cleanup's steps and run them again."""
        if self.method != 'revert':
            return None
        if not self.before_ponr:
            return cleanup_tasks(self.type)[-1]
        return main_tasks(self.type)[-1]

    @property
    def faults(self):
        kill = '%s.%s.%s=kill' % (self.task, self.method, self.when)
        if self.method == 'execute':
            return [kill]
        failing = self.failing_task
        # A live migration's last step before the point of no return has
        # switched the guest over once it succeeded: a failure after it is
        # rolled forward, so it fails before its work instead (and is
        # reverted all the same).
        after = failing == self.task and \
            not move_types.get(self.type).ponr_after
        fail = '%s.execute%s=fail' % (failing, '.after' if after else '')
        return [fail, kill]

    @property
    def expected(self):
        if self.method == 'revert' and self.before_ponr:
            return types_base.REVERTED
        if (self.method, self.when) == ('execute', 'after') and \
                self.task == move_types.get(self.type).ponr_after:
            # Its work done, the world is past the point of no return (a
            # live migration switched over): rolled forward whatever the
            # resume policy says.
            return types_base.COMPLETED
        if not self.before_ponr or self.policy == 'resume':
            return types_base.COMPLETED
        return types_base.REVERTED


def main_tasks(type_name):
    """The steps up to the point of no return."""
    return [s.cls.__name__ for s in
            move_types.get(type_name).stage_steps(types_base.MAIN)]


def cleanup_tasks(type_name):
    """The steps after it, rolled forward."""
    return [s.cls.__name__ for s in
            move_types.get(type_name).stage_steps(types_base.CLEANUP)]


def kill_points():
    points = []
    for policy in POLICIES:
        for type_name in TYPES:
            steps = move_types.get(type_name).steps
            for step in steps:
                for when in ('before', 'after'):
                    points.append(KillPoint(type_name, step.cls.__name__,
                                            'execute', when, policy))
            for step in steps:
                # Before the point of no return, the steps that undo
                # something; after it, every step, reverted (a no-op) by
                # their retry controller before it runs them again.
                name = step.cls.__name__
                if name in cleanup_tasks(type_name) or has_revert(step.cls):
                    for when in ('before', 'after'):
                        points.append(KillPoint(
                            type_name, step.cls.__name__, 'revert', when,
                            policy))
    return points
