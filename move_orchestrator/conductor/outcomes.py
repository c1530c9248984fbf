"""An engine's result, as the move's event: what its record says next."""

from oslo_log import log as logging
from taskflow import states as tf_states

from move_orchestrator.conductor import flowstate
from move_orchestrator import exception
from move_orchestrator.moves.types import base as types_base
from move_orchestrator import states

LOG = logging.getLogger(__name__)


class Outcomes:
    """The terminal events name the state they lead to (``expect``): one
    retried after its commit's answer was lost (the database went away
    as it committed) finds the move there and changes nothing."""

    def __init__(self, services, recorder):
        self.services = services
        self.recorder = recorder

    def fail(self, move_id, reason, step):
        move = self.services.store.get(move_id)
        if move['state'] not in states.TERMINAL_STATES:
            self.recorder.fire(move_id, states.FAIL, expect=states.FAILED,
                               reason=reason, failed_step=step)

    def record(self, move, stage, engine, outcome, listener, error,
               reason=None):
        move_id = move['id']
        first = listener.failures[0] if listener.failures else (None, None)
        if reason is None and first[0]:
            reason = '%s failed: %s: %s' % (first[0], first[1]['type'],
                                            first[1]['message'])
        elif reason is None and error is not None:
            reason = str(error)
        revert_failed = flowstate.revert_failed(engine)
        if outcome == tf_states.SUCCESS:
            if stage == types_base.CLEANUP:
                self.recorder.fire(move_id, states.COMPLETE,
                                   expect=states.COMPLETED)
        elif outcome == tf_states.REVERTED and stage == types_base.MAIN \
                and not revert_failed:
            if first[0] is None:
                # Reverting since before a restart: keep the record's why.
                stored = self.services.store.get(move_id)
                reason = stored['reason'] or reason
                first = (stored['failed_step'], None)
            self.recorder.fire(move_id, states.DONE_REVERTING,
                               expect=states.REVERTED, reason=reason,
                               failed_step=first[0])
        elif outcome == tf_states.SUSPENDED:
            LOG.info('Move %s suspended in %s; the next conductor resumes '
                     'it', move_id, stage)
        elif stage == types_base.CLEANUP:
            self.fail(move_id, 'cleanup after the point of no return gave '
                      'up after %d attempts: %s; the instance runs on %s. '
                      'Fix the cause and resume the task.'
                      % (self.services.conf.conductor.cleanup_attempts,
                         reason, move['dest_host']), first[0])
        else:
            advice = 'Fix the cause, then revert or resume the task.'
            if listener.revert_failures:
                step, err = listener.revert_failures[0]
                what = '%s: %s' % (err['type'], err['message'])
                if err['type'] == exception.GuestOnlyOnDestination.__name__:
                    # Switched over: a revert is refused, a resume completes.
                    advice = 'Resume the task.'
            else:
                step = revert_failed[0] if revert_failed else first[0]
                what = str(error) if error else 'unknown error'
            self.fail(move_id, 'revert of %s failed: %s (after %s). %s'
                      % (step, what, reason, advice), step)
