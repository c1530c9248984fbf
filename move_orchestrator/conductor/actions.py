"""Operators' actions on a move: abort, resume, revert, force-complete.

Each checks the move, records the action and its state change, and asks
the claim source to run the move (``nudge``); nothing here runs a step.
"""

import functools

from taskflow import states as tf_states

from move_orchestrator.conductor import execution
from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator import states


def _who(context):
    return getattr(context, 'user_id', None) or 'an operator'


def resume_target(services, move, move_type):
    """Where a failed move resumes: the state of the first step that will
    run again, read from its persisted atoms (a move failed by its
    conductor, not by a step, has no failed step recorded)."""
    stage = types_base.CLEANUP if move['ponr'] else types_base.MAIN
    done = execution.stored_atom_states(services, move['id'], stage)
    for step in move_type.stage_steps(stage):
        if done.get(step.cls.__name__) != tf_states.SUCCESS:
            return step.move_state
    if move['ponr']:
        return move_type.cleanup_state
    # Every step up to the point of no return succeeded: only the record
    # of it is missing, and what follows it comes next.
    return move_type.after_ponr_states[0]


def _switched_over(services, move):
    """Whether the host side passed the move's point of no return while
    nothing recorded it (a live migration switched over by its hosts), as
    its point-of-no-return step can tell."""
    move_type = move_types.get(move['type'])
    step = move_type.step_for(move_type.ponr_step).cls(services)
    check = getattr(step, 'switched_over', None)
    return check is not None and check(move)


class Actions:
    def __init__(self, services, recorder, nudge):
        self.services = services
        self.recorder = recorder
        self.nudge = nudge      # nudge(move_id): the move wants running

    def _check(self, move, action, allowed):
        if move['state'] not in allowed:
            raise exception.InvalidTaskAction(
                task=move['id'], action=action,
                reason='it is %s' % move['state'])

    def _record(self, move_id, action, context, detail=None):
        self.services.store.add_event(move_id, 'action', action, 'accepted',
                                      detail=detail, context=context)

    def abort(self, move_id, context=None):
        """Revert a running move before its point of no return."""
        move = self.services.store.get(move_id)
        if move['state'] == states.FAILED:
            raise exception.InvalidTaskAction(
                task=move_id, action='aborted',
                reason='it has failed already: revert it instead')
        self._check(move, 'aborted', [
            s for s in move_types.get(move['type']).states
            if s not in states.TERMINAL_STATES])
        if not self.services.store.request_abort(move_id, _who(context)):
            raise exception.InvalidTaskAction(
                task=move_id, action='aborted',
                reason='it has passed its point of no return; it will '
                       'complete')
        self._record(move_id, 'abort', context)
        self.nudge(move_id)
        return self.services.store.get(move_id)

    def resume(self, move_id, context=None):
        """Run a failed move on from where it stopped."""
        move = self.services.store.get(move_id)
        self._check(move, 'resumed', (states.FAILED,))
        target = resume_target(self.services, move,
                               move_types.get(move['type']))
        self._record(move_id, 'resume', context)
        self.recorder.fire(move_id, states.RESUME, target=target,
                           context=context,
                           reason='resumed by %s' % _who(context))
        self.nudge(move_id)
        return self.services.store.get(move_id)

    def revert(self, move_id, context=None):
        """Undo a failed move that had not passed its point of no return."""
        move = self.services.store.get(move_id)
        self._check(move, 'reverted', (states.FAILED,))
        if move['ponr']:
            raise exception.InvalidTaskAction(
                task=move_id, action='reverted',
                reason='it has passed its point of no return: resume it')
        if _switched_over(self.services, move):
            raise exception.InvalidTaskAction(
                task=move_id, action='reverted',
                reason='its instance was switched over to %s and runs there '
                       'alone, which cannot be undone: resume it to complete '
                       'the move' % move['dest_host'])
        self._record(move_id, 'revert', context)
        self.recorder.fire(move_id, states.REVERT, context=context,
                           reason='revert asked by %s' % _who(context))
        self.nudge(move_id)
        return self.services.store.get(move_id)

    def force_complete(self, move_id, context=None):
        """Make a live migration that does not converge finish."""
        move = self.services.store.get(move_id)
        refused = functools.partial(exception.InvalidTaskAction, task=move_id,
                                    action='force-completed')
        if move['type'] != 'live-migrate':
            raise refused(reason='it is a %s, not a live migration' % move['type'])
        self._check(move, 'force-completed', ('migrating-memory',))
        driver = self.services.driver
        # Asked of the move's source, whichever host this process saw the
        # instance's last migration leave from.
        source = move['source_host']
        migration = driver.poll_migration(move['instance_uuid'], source=source)
        if migration and migration.get('id') not in (None, move_id):
            migration = None    # an earlier move's
        status = migration['status'] if migration else 'not started'
        try:
            if status not in driver_base.MIGRATION_ACTIVE:
                raise exception.MigrationNotRunning(
                    instance=move['instance_uuid'], status=status)
            driver.force_complete_migration(move['instance_uuid'], source=source)
        except exception.MigrationNotRunning as e:
            # Not running at the look above, or ended since (converged on
            # its own, most likely): no force to record.
            raise refused(reason='its memory copy is not running (%s)'
                          % e.kwargs['status'])
        except exception.DriverError as e:
            # Not now, or not this migration (post-copy not permitted, say):
            # the operator is told, and nothing is recorded.
            raise refused(reason=e.kwargs.get('reason') or str(e))
        self._record(move_id, 'force-complete', context)
        return self.services.store.get(move_id)
