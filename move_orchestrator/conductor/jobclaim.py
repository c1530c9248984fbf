"""A conductor's claim on one move's job while it runs the move.

The claim is renewed by the dispatcher's renewal thread (``jobboard.py``),
so it lives through long steps (a memory copy), not only between steps;
``ClaimListener`` checks it when a step ends (done or undone) and at each
state change of the flow. It carries a fencing token (``db/fencing.py``):
a conductor that lost its claim cannot write the move again even if it
never notices.
"""

import threading

from oslo_log import log as logging
from taskflow import exceptions as tf_exc
from taskflow.listeners import claims as tf_claims
from taskflow import states as tf_states

from move_orchestrator import states

LOG = logging.getLogger(__name__)

# Where a move that lost its claim must stop before it acts again: the end
# of a step (done or failed) or of its revert. TaskFlow schedules the next
# step (or revert) only if the flow is still running once the step's end
# is saved and notified, so a loss found there suspends the engine before
# the next one starts. Found
# at a step's start (RUNNING, REVERTING) it could not stop that step:
# TaskFlow notifies the state, then runs the step whatever the listener
# did. One board round trip per step either way; the first step is
# covered by the flow's start.
CHECKED_STEP_STATES = (tf_states.SUCCESS, tf_states.FAILURE,
                       tf_states.REVERTED)


class ClaimListener(tf_claims.CheckingClaimListener):
    """TaskFlow's ``CheckingClaimListener`` (checks the claim at every
    state change of a step or flow), checking at a step's end and its
    revert's only (``CHECKED_STEP_STATES``) and the flow's changes, with an
    owner check that survives an unclaimed job (``find_owner`` raises
    TypeError on one); on a loss the claim is marked lost before the
    engine is suspended (its writes are fenced anyway).
    """

    def __init__(self, engine, claim):
        super().__init__(engine, claim.job, claim.board, claim.conductor,
                         on_job_loss=self._lost)
        self._claim = claim

    def _task_receiver(self, state, details):
        if state in CHECKED_STEP_STATES:
            super()._task_receiver(state, details)

    def _has_been_lost(self):
        try:
            owner = self._board.owner_of(self._claim.job)
        except tf_exc.NotFound:
            return True
        except tf_exc.JobFailure:
            # Redis unreachable: not a loss. The claim is lost only if
            # another conductor took it, which its new generation in the
            # database tells (every write here is fenced by it).
            return False
        # Nobody (a Redis restarted without persistence lost the claim):
        # the renewal takes it again if the move is still ours.
        return owner is not None and owner != self._owner

    def _lost(self, engine, state, details):
        self._claim.lose()


class JobClaim:
    """This conductor's claim on one move's job while it runs the move."""

    def __init__(self, source, job, move_id):
        self.source = source
        self.board = source.board
        self.job = job
        self.move_id = move_id
        self.conductor = source.name
        self.token = None
        self._lost = threading.Event()

    @property
    def lost(self):
        return self._lost.is_set()

    def lose(self):
        if not self._lost.is_set():
            LOG.warning('Lost the claim on move %s: another conductor runs '
                        'it; stopping', self.move_id)
            self._lost.set()
            try:
                self.source.conductor.execution.suspend(self.move_id)
            except Exception as e:
                # Its writes are fenced: it stops at the next one anyway.
                LOG.info('Move %s: not suspended (%s)', self.move_id, e)

    def listeners(self, engine):
        return [ClaimListener(engine, self)]

    def __enter__(self):
        self.token = self.source.services.store.take_claim(self.move_id,
                                                           self.conductor)
        self.source.renewing(self)
        return self

    def __exit__(self, *exc):
        self.source.renewed(self)
        store = self.source.services.store
        try:
            if self.lost:
                return False
            move = store.get(self.move_id)
            if move['state'] in states.TERMINAL_STATES:
                self.board.consume(self.job, self.conductor)
            else:
                # Suspended (we are stopping): others take it at once.
                self.board.abandon(self.job, self.conductor)
        except (tf_exc.NotFound, tf_exc.JobFailure) as e:
            LOG.warning('Could not hand back the job of move %s: %s',
                        self.move_id, e)
        finally:
            store.fences.release(self.move_id, self.token)
        return False
