"""Loading and running one move: its two TaskFlow engines.

The main engine runs the steps up to the point of no return (the end of
switch-over, or the type's ``ponr_after`` step); when it succeeds the move has
passed it, which is recorded before the cleanup engine rolls the rest
forward. A main stage interrupted after its point-of-no-return step succeeded
(or whose host side has passed it: a live migration switched over by its
host while no conductor ran) is run forward, whatever an abort or the
resume policy asked. Both engines' atoms are persisted, so a conductor that dies mid-move
is replaced by one that loads the same flow details and carries on. Every
claim source feeds this one path.
"""

import contextlib
import functools

from oslo_log import log as logging
from taskflow import exceptions as tf_exc
from taskflow.persistence import models as tf_models
from taskflow import states as tf_states

from move_orchestrator.conductor import ahead as ahead_mod
from move_orchestrator.conductor import engine as engine_mod
from move_orchestrator.conductor import flowstate
from move_orchestrator.conductor import outcomes
from move_orchestrator.db import fencing
from move_orchestrator.db import outage
from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.records import listener as listener_mod
from move_orchestrator import states

LOG = logging.getLogger(__name__)


flow_detail_uuid = fencing.flow_detail_uuid


def phase_of(move_type, atom_name):
    step = move_type.step_for(atom_name)
    return step.cls.phase if step else 'cleanup'   # the retry controller


def engine_store(move):
    return {'move_id': move['id'], 'instance_uuid': move['instance_uuid'],
            'source': move['source_host'], 'dest': move['dest_host'],
            'live': move['live'], **move['params']}


def stored_atom_states(services, move_id, stage):
    """{atom name: state} of a stage as persisted ({} if never run)."""
    with contextlib.closing(services.persistence.get_connection()) as conn:
        try:
            book = conn.get_logbook(move_id)
        except tf_exc.NotFound:
            return {}
    fd = book.find(flow_detail_uuid(move_id, stage))
    return {ad.name: ad.state for ad in fd} if fd is not None else {}


def claim_lost(execution, move_id):
    """Whether this process's claim on the move is gone (after an
    outage, another conductor may have taken it over)."""
    try:
        execution.check_claim(move_id)
    except exception.ClaimLost as e:
        LOG.warning('Stopped running move %s: %s', move_id, e)
        return True
    return False


class Execution:
    def __init__(self, services, recorder):
        self.services = services
        self.recorder = recorder
        self.outcomes = outcomes.Outcomes(services, recorder)
        self.engines = {}    # move id -> the engine running it now
        self._claims = {}    # move id -> the claim it runs under

    def suspend_all(self):
        """Stop every running move after its current step (SIGTERM).

        Their flows are persisted as suspended; the next conductor resumes
        them like any interrupted move.
        """
        for move_id, engine in list(self.engines.items()):
            LOG.info('Suspending move %s', move_id)
            engine.suspend()

    def suspend(self, move_id):
        engine = self.engines.get(move_id)
        if engine is not None:
            engine.suspend()

    def run_move(self, move_id, interrupted=False, claim=None):
        if claim is not None:
            self._claims[move_id] = claim
        try:
            with outage.waiting():
                self._run_move_through_outages(move_id, interrupted)
        finally:
            self._claims.pop(move_id, None)

    def _run_move_through_outages(self, move_id, interrupted):
        """A database outage that stopped the engine (its writes and
        steps wait outages out; this catches the rest) pauses the move:
        once the database is back it carries on from its persisted steps,
        like a move taken up after a restart, never reverted for it."""
        while True:
            try:
                return self._run_move(move_id, interrupted)
            except exception.StorageUnavailable as e:
                LOG.warning('Move %s paused: %s', move_id, e)
                outage.call(self.services.store.get, move_id,
                            what='move %s' % move_id)
                if claim_lost(self, move_id):
                    return

    def _run_move(self, move_id, interrupted):
        move = self.services.store.get(move_id)
        if move['state'] in states.TERMINAL_STATES:
            # Listed as unfinished a moment ago, finished since (the
            # watcher races the move's own thread): nothing left to do.
            return
        try:
            move_type = move_types.get(move['type'])
            book = self._logbook(move)
            loaded = None
            if not move['ponr']:
                ahead = ahead_mod.StageAhead(functools.partial(
                    self._load, move, move_type, book, types_base.CLEANUP),
                    move_type.ponr_step, move_id)
                try:
                    outcome = self._run_main(move, move_type, book,
                                             interrupted, ahead)
                finally:
                    loaded = ahead.take()
                if outcome != tf_states.SUCCESS:
                    return
                if not self.services.store.get(move_id)['ponr']:
                    # Its end was not saved by this run (found succeeded),
                    # or not committed: a read tells, and commits nothing.
                    self.services.store.pass_ponr(move_id)
            self._run_stage(move, move_type, book, types_base.CLEANUP,
                            loaded)
        except exception.ClaimLost as exc:
            # Another conductor runs it now: nothing more is ours to write.
            LOG.warning('Stopped running move %s: %s', move_id, exc)
        except Exception as exc:
            unavailable = outage.typed(exc)
            if unavailable is not None:
                # Not the move's failure: run_move waits and carries on.
                raise unavailable from exc
            LOG.exception('Move %s could not be run', move_id)
            self.outcomes.fail(move_id, 'the conductor could not run the '
                               'move: %s: %s' % (type(exc).__name__, exc),
                               None)

    def _logbook(self, move):
        backend = self.services.persistence
        with contextlib.closing(backend.get_connection()) as conn:
            # On its first claim no run before made one: nothing to read.
            if self.services.store.fences.may_have_run(move['id']):
                try:
                    return conn.get_logbook(move['id'])
                except tf_exc.NotFound:
                    pass
            book = tf_models.LogBook('move-%s' % move['id'], uuid=move['id'])
            for stage in types_base.STAGES:
                fd = tf_models.FlowDetail(
                    stage, uuid=flow_detail_uuid(move['id'], stage))
                fd.meta = {'move_type': move['type'], 'stage': stage}
                book.add(fd)
            conn.save_logbook(book)
            return book

    def _rollback_reason(self, move, interrupted, started):
        """Why a move that was going forward is being reverted, or None."""
        if move['abort_requested_by']:
            return 'aborted by %s' % move['abort_requested_by']
        if move['state'] == states.REVERTING:
            return move['reason'] or 'reverting'
        if (interrupted and started
                and self.services.conf.conductor.resume_policy
                == 'rollback'):
            return ('rolled back: the conductor running it stopped '
                    '(resume_policy = rollback)')
        return None

    def _roll_back(self, move, reason):
        """Into ``reverting`` (if not there): an abort, or a rollback."""
        event = states.ABORT if move['abort_requested_by'] else states.REVERT
        self.recorder.fire(move['id'], event, expect=states.REVERTING,
                           reason=reason)

    def _run_main(self, move, move_type, book, interrupted, ahead=None):
        engine, flow, stored = self._load(move, move_type, book,
                                          types_base.MAIN)
        self._catch_up(move, move_type, engine)
        started = any(state != tf_states.PENDING for state in
                      flowstate.atom_states(engine).values())
        if started:
            # Taken up: the catch-up, or an operator, moved the record
            # since it was read. (A new move's abort asked meanwhile is
            # seen when its first step starts.)
            move = self.services.store.get(move['id'])
        reason = self._rollback_reason(move, interrupted, started)
        undone = all(state in (tf_states.PENDING, tf_states.REVERTED)
                     for state in flowstate.atom_states(engine).values())
        if reason is not None and not undone and stored != tf_states.REVERTED \
                and self._past_ponr(move, move_type, engine):
            LOG.info('Move %s is past its point of no return: rolled '
                     'forward, not back (%s)', move['id'], reason)
            reason = None
        if reason is not None and (stored == tf_states.REVERTED or undone):
            # Reverted already (or never started); the conductor died
            # before it said so. TaskFlow's prepare() resets a reverted
            # flow to run again, and a conductor killed after that reset
            # leaves every atom pending: nothing is left to undo.
            self._roll_back(move, reason)      # aborted, unstarted
            self.recorder.fire(move['id'], states.DONE_REVERTING,
                               expect=states.REVERTED,
                               reason=move['reason'] or reason,
                               failed_step=move['failed_step'])
            return tf_states.REVERTED
        if reason is not None:
            flowstate.mark_for_rollback(engine)
            self._roll_back(move, reason)
        elif stored in (tf_states.FAILURE, tf_states.REVERTED):
            flowstate.reset_for_retry(engine)   # an operator's resume
        else:
            self._record_taken_up(move, move_type, engine)
        outcome, listener, error = self._run(engine, move, move_type,
                                             types_base.MAIN, ahead)
        if listener.rolled_forward:
            flowstate.reset_for_retry(engine)
            outcome, listener, error = self._run(engine, move, move_type,
                                                 types_base.MAIN, ahead)
            if listener.rolled_forward:
                # Past it in the world: a revert would be refused, a resume
                # runs what follows.
                self.services.store.pass_ponr(move['id'])
                self.outcomes.fail(
                    move['id'], '%s failed again past the point of no return; '
                    'the instance runs on %s. Fix the cause and resume the '
                    'task.' % (move_type.ponr_step, move['dest_host']),
                    move_type.ponr_step)
                return tf_states.FAILURE
        if outcome == tf_states.SUSPENDED:
            move = self.services.store.get(move['id'])
            if move['abort_requested_by'] and \
                    self._past_ponr(move, move_type, engine):
                outcome, listener, error = self._run(
                    engine, move, move_type, types_base.MAIN, ahead)
            elif move['abort_requested_by']:
                reason = 'aborted by %s' % move['abort_requested_by']
                flowstate.mark_for_rollback(engine)
                self._roll_back(move, reason)
                outcome, listener, error = self._run(
                    engine, move, move_type, types_base.MAIN)
        self.outcomes.record(move, types_base.MAIN, engine, outcome,
                             listener, error, reason)
        return outcome

    def _past_ponr(self, move, move_type, engine):
        """Whether the main stage must go forward: its point-of-no-return
        step succeeded, or that step says the world passed it while no
        conductor watched (it cancels what can still be cancelled, under
        the host side's own decision, so that exactly one of the two holds).
        """
        name = move_type.ponr_step
        if flowstate.succeeded(engine, name):
            return True
        if engine.storage.get_atom_state(name) == tf_states.PENDING:
            return False
        return self._world_past_ponr(move, move_type)

    def _world_past_ponr(self, move, move_type):
        step = move_type.step_for(move_type.ponr_step).cls(self.services)
        settle = getattr(step, 'cancel_before_ponr', None)
        return settle is not None and not settle(move)

    def _catch_up(self, move, move_type, engine):
        """A step that was running when the conductor died is run again
        without TaskFlow announcing it (RUNNING to RUNNING is no change);
        the move's state follows it here, if the kill came before it did.
        """
        for name, state in flowstate.atom_states(engine).items():
            step = move_type.step_for(name)
            if state == tf_states.RUNNING and step is not None:
                current = self.services.store.get(move['id'])['state']
                if current != states.REVERTING:
                    self.recorder.enter_step(move['id'], step.move_state)

    def _record_taken_up(self, move, move_type, engine):
        """A step run again after a crash shows in the record as a new
        attempt (TaskFlow does not announce it: RUNNING to RUNNING)."""
        for name, state in flowstate.atom_states(engine).items():
            if state in (tf_states.RUNNING, tf_states.REVERTING):
                self.services.store.add_event(
                    move['id'], 'subtask', name, state,
                    phase=phase_of(move_type, name),
                    detail={'taken_up': 'interrupted by a stopped conductor'})

    def _run_stage(self, move, move_type, book, stage, loaded=None):
        engine, flow, stored = loaded or self._load(move, move_type, book,
                                                    stage)
        if stage == types_base.CLEANUP:
            # Read now, not at its load: it may be loaded while the main
            # stage's last step runs (conductor/ahead.py).
            engine.storage.inject(flowstate.provided(
                book.find(flow_detail_uuid(move['id'], types_base.MAIN)),
                move_type.stage_steps(types_base.MAIN)), transient=True)
        self._catch_up(move, move_type, engine)
        self._record_taken_up(move, move_type, engine)
        if stored in (tf_states.FAILURE, tf_states.REVERTED):
            flowstate.reset_for_retry(engine)   # an operator's resume
        outcome, listener, error = self._run(engine, move, move_type, stage)
        self.outcomes.record(move, stage, engine, outcome, listener, error)
        return outcome

    def _load(self, move, move_type, book, stage):
        flow = move_type.build_flow(stage, self.services)
        fd = book.find(flow_detail_uuid(move['id'], stage))
        stored_atoms = [ad.name for ad in fd]
        stored_state = fd.state
        if stored_state == tf_states.REVERTED and any(
                ad.state == tf_states.REVERT_FAILURE for ad in fd):
            stored_state = tf_states.FAILURE   # TaskFlow's word is wrong
        engine = engine_mod.load(flow, fd, self.services.persistence)
        # The store is derived from the move record on every load, so it is
        # injected in memory only: TaskFlow's persisted injection takes two
        # commits, and a kill between them left a flow that cannot load.
        engine.storage.inject(engine_store(move), transient=True)
        engine.compile()
        engine.prepare()
        flowstate.check_compatible(engine, stored_atoms, move['id'])
        return engine, flow, stored_state

    def _run(self, engine, move, move_type, stage, ahead=None):
        listener = listener_mod.MoveRecordListener(
            engine, self.recorder, move, move_type, stage,
            past_ponr=functools.partial(self._world_past_ponr, move,
                                        move_type))
        claim = self._claims.get(move['id'])
        extra = claim.listeners(engine) if claim is not None else []
        if ahead is not None:
            extra.append(ahead.listener(engine))
        fd_uuid = engine.storage.flow_uuid
        self.services.history.register(
            fd_uuid, move['id'], functools.partial(phase_of, move_type),
            on_start=listener.on_start,
            on_end=functools.partial(self._passed_ponr, move['id'])
            if stage == types_base.MAIN else None)
        error = None
        with contextlib.ExitStack() as stack:
            for each in [listener] + extra:
                stack.enter_context(each)
            self.engines[move['id']] = engine
            try:
                engine.run()
            except Exception as exc:
                error = exc
            finally:
                self.engines.pop(move['id'], None)
                self.services.history.unregister(fd_uuid, [
                    engine.storage.get_atom_uuid(name)
                    for name in flowstate.atom_names(engine)])
        # An engine stopped by a lost claim has nothing to report; a write
        # refused inside TaskFlow may reach us wrapped, or not at all.
        self.check_claim(move['id'])
        unavailable = outage.typed(error) if error is not None else None
        if unavailable is not None:
            # The engine stopped because the database did: its outcome is
            # not the move's (see _run_move_through_outages).
            raise unavailable from error
        return engine.storage.get_flow_state(), listener, error

    def _passed_ponr(self, move_id, save, flow_detail):
        """The main flow's success is the point of no return: recorded in
        the transaction that saves it, so no kill falls in between."""
        if flow_detail.state == tf_states.SUCCESS:
            self.services.store.pass_ponr(move_id,
                                          connection=save.connection)

    def check_claim(self, move_id):
        """Raise ClaimLost if this process's claim on the move is gone."""
        with self.services.db.read() as s:
            self.services.store.fences.still_held(s, move_id)
