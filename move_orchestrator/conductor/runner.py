"""Runs moves: each one two TaskFlow engines on the persistence backend.

The first engine runs claim to switch-over; when it succeeds the move has
passed its point of no return, which is recorded before the cleanup engine
starts. Both engines' atoms are persisted, so a conductor that dies mid-move
is replaced by one that loads the same flow details and carries on.
"""

import contextlib
import functools
import hashlib
import os
import tempfile
import threading
import time
import uuid

import fasteners
import futurist
import sqlalchemy as sa
from oslo_log import log as logging
from taskflow import engines
from taskflow import exceptions as tf_exc
from taskflow.persistence import models as tf_models
from taskflow import states as tf_states

from move_orchestrator.conductor import flowstate
from move_orchestrator.conductor import recorder as recorder_mod
from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator import exception
from move_orchestrator.moves import flows
from move_orchestrator.moves import request as move_request
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.records import listener as listener_mod
from move_orchestrator import states

LOG = logging.getLogger(__name__)


def flow_detail_uuid(move_id, stage):
    return str(uuid.uuid5(uuid.UUID(move_id), stage))


def lock_path(url):
    """The owner lock of a database: beside a SQLite file, else in /tmp."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith('sqlite') and parsed.database and \
            parsed.database != ':memory:':
        return os.path.abspath(parsed.database) + '.conductor.lock'
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(),
                        'move-orchestrator-%s.conductor.lock' % digest)


def _phase_of(move_type, atom_name):
    step = move_type.step_for(atom_name)
    return step.cls.phase if step else 'cleanup'   # the retry controller


def engine_store(move):
    return {'move_id': move['id'], 'instance_uuid': move['instance_uuid'],
            'source': move['source_host'], 'dest': move['dest_host'],
            'live': move['live'], **move['params']}


class Conductor:
    """The embedded conductor: moves run in this process's thread pool."""

    def __init__(self, services):
        self.services = services
        flows.register_services(services)
        self.recorder = recorder_mod.Recorder(services.store)
        self._executor = futurist.ThreadPoolExecutor(
            max_workers=services.conf.conductor.max_concurrent_moves)
        self._futures = {}
        self._engines = {}
        self._lock = threading.Lock()
        self._owner_lock = None
        self._stopping = threading.Event()

    # -- ownership -----------------------------------------------------------
    @property
    def owns_database(self):
        return self._owner_lock is not None

    def start(self):
        """Become the conductor of this database, if no other process is.

        Only one embedded conductor may run a database's moves; the others
        (a second CLI, say) only persist moves for it and read the records.
        The lock dies with its process, so a killed conductor's moves go to
        the next one that starts, which resumes them. Returns whether this
        process owns the database.
        """
        with self._lock:
            if self._owner_lock is not None:
                return True
            lock = fasteners.InterProcessLock(
                lock_path(self.services.conf.database.connection))
            if not lock.acquire(blocking=False):
                return False
            self._owner_lock = lock
        LOG.info('Conductor %s runs the moves of this database', os.getpid())
        self.resume_unfinished()
        threading.Thread(target=self._watch, name='move-watcher',
                         daemon=True).start()
        return True

    def _watch(self):
        """Take up moves that other processes accept or act on."""
        interval = self.services.conf.conductor.watch_interval
        while not self._stopping.wait(interval):
            try:
                self.resume_unfinished()
            except Exception:
                LOG.exception('Looking for new moves failed; trying again')

    # -- accepting ---------------------------------------------------------
    def submit(self, request, context=None):
        """Validate, persist as ``accepted``, and schedule. Returns the move.

        A request_id seen before returns that move and starts nothing.
        """
        move_request.validate_request(request)
        if request.get('request_id'):
            seen = self.services.store.find_by_request_id(
                request['request_id'])
            if seen is not None:
                if seen['request'] != request:
                    raise exception.InvalidMoveRequest(
                        reason='request_id %s was used for another request'
                        % request['request_id'])
                return seen
        values, params = move_request.build_move(
            self.services.inventory, self.services.conf, request,
            self.services.allocation_ratios)
        values['params'] = params
        values['user_id'] = getattr(context, 'user_id', None)
        values['project_id'] = getattr(context, 'project_id', None)
        move, created = self.services.store.create(values, context=context)
        if created:
            LOG.info('Accepted move %s: %s of %s from %s to %s', move['id'],
                     move['type'], move['instance_uuid'],
                     move['source_host'], move['dest_host'])
            if self.owns_database:
                self.schedule(move['id'])
        return move

    def schedule(self, move_id, interrupted=False):
        with self._lock:
            future = self._futures.get(move_id)
            if future is not None and not future.done():
                return future
            future = self._executor.submit(self.run_move, move_id,
                                           interrupted)
            self._futures[move_id] = future
            return future

    def running(self, move_id):
        future = self._futures.get(move_id)
        return future is not None and not future.done()

    def wait(self, move_id, timeout=None):
        """Until the move ends (or stops here, suspended); its record."""
        future = self._futures.get(move_id)
        if future is not None:
            future.result(timeout=timeout)
            return self.services.store.get(move_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # another process runs it: watch the record
            move = self.services.store.get(move_id)
            if move['state'] in types_base.TERMINAL_STATES:
                return move
            if not self.running(move_id) and self.start():
                # Nobody runs it (its conductor is gone): this process
                # takes over.
                self.resume_unfinished()
                if self.running(move_id):
                    return self.wait(move_id, timeout)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError('move %s is still %s'
                                   % (move_id, move['state']))
            time.sleep(0.1)

    def wait_all(self, timeout=None):
        for future in list(self._futures.values()):
            future.result(timeout=timeout)

    def resume_unfinished(self):
        """Schedule every move that is neither finished nor failed.

        A move past ``accepted`` was interrupted: a previous conductor died
        with it, or an operator asked to resume or revert it.
        """
        if not self.start():
            return []
        started = []
        for move in self.services.store.list_unfinished():
            if move['state'] == types_base.FAILED or self.running(move['id']):
                continue
            LOG.info('Taking up move %s (%s, %s)', move['id'], move['type'],
                     move['state'])
            # Whether it had started is read from its atoms when it runs.
            self.schedule(move['id'], interrupted=True)
            started.append(move)
        return started

    def idle(self):
        return not any(self.running(m) for m in list(self._futures))

    def suspend_all(self):
        """Stop every running move after its current step (SIGTERM).

        Their flows are persisted as suspended; the next conductor resumes
        them like any interrupted move.
        """
        for move_id, engine in list(self._engines.items()):
            LOG.info('Suspending move %s', move_id)
            engine.suspend()

    def shutdown(self, wait=True):
        self._stopping.set()
        self._executor.shutdown(wait=wait)
        if wait or self.idle():
            self.services.close()   # no move left to use the driver
        if self._owner_lock is not None:
            self._owner_lock.release()
            self._owner_lock = None

    # -- operators' actions ------------------------------------------------
    def _check_action(self, move, action, allowed):
        if move['state'] not in allowed:
            raise exception.InvalidTaskAction(
                task=move['id'], action=action,
                reason='it is %s' % move['state'])

    def _record_action(self, move_id, action, context, detail=None):
        self.services.store.add_event(move_id, 'action', action, 'accepted',
                                      detail=detail, context=context)

    def abort(self, move_id, context=None):
        """Revert a running move before its point of no return."""
        move = self.services.store.get(move_id)
        if move['state'] == types_base.FAILED:
            raise exception.InvalidTaskAction(
                task=move_id, action='aborted',
                reason='it has failed already: revert it instead')
        self._check_action(move, 'aborted', [
            s for s in move_types.get(move['type']).states
            if s not in types_base.TERMINAL_STATES])
        if move['ponr']:
            raise exception.InvalidTaskAction(
                task=move_id, action='aborted',
                reason='it has passed its point of no return; it will '
                       'complete')
        who = getattr(context, 'user_id', None) or 'an operator'
        self.services.store.update(move_id, abort_requested_by=who)
        self._record_action(move_id, 'abort', context)
        if self.owns_database and not self.running(move_id):
            self.schedule(move_id, interrupted=True)
        return self.services.store.get(move_id)

    def resume(self, move_id, context=None):
        """Run a failed move on from where it stopped."""
        move = self.services.store.get(move_id)
        self._check_action(move, 'resumed', (types_base.FAILED,))
        target = self.resume_target(move, move_types.get(move['type']))
        self._record_action(move_id, 'resume', context)
        self.recorder.fire(move_id, states.RESUME, target=target,
                           context=context, reason='resumed by %s' % (
                                  getattr(context, 'user_id', None)
                                  or 'an operator'))
        if self.owns_database:
            self.schedule(move_id, interrupted=True)
        return self.services.store.get(move_id)

    def resume_target(self, move, move_type):
        """Where a failed move resumes: the state of the first step that
        will run again, read from its persisted atoms (a move failed by
        its conductor, not by a step, has no failed step recorded)."""
        if move['ponr']:
            return move_type.cleanup_state
        done = self._stored_atom_states(move, types_base.MAIN)
        main = [s for s in move_type.steps if s.cls.phase != 'cleanup']
        for step in main:
            if done.get(step.cls.__name__) != tf_states.SUCCESS:
                return step.move_state
        # Every step up to the point of no return succeeded: only the
        # record of it is missing, and cleanup comes next.
        return move_type.cleanup_state

    def _stored_atom_states(self, move, stage):
        backend = self.services.persistence
        with contextlib.closing(backend.get_connection()) as conn:
            try:
                book = conn.get_logbook(move['id'])
            except tf_exc.NotFound:
                return {}
        fd = book.find(flow_detail_uuid(move['id'], stage))
        return {ad.name: ad.state for ad in fd} if fd is not None else {}

    def revert(self, move_id, context=None):
        """Undo a failed move that had not passed its point of no return."""
        move = self.services.store.get(move_id)
        self._check_action(move, 'reverted', (types_base.FAILED,))
        if move['ponr']:
            raise exception.InvalidTaskAction(
                task=move_id, action='reverted',
                reason='it has passed its point of no return: resume it')
        self._record_action(move_id, 'revert', context)
        self.recorder.fire(move_id, states.REVERT, context=context,
                           reason='revert asked by %s' % (
                                  getattr(context, 'user_id', None)
                                  or 'an operator'))
        if self.owns_database:
            self.schedule(move_id, interrupted=True)
        return self.services.store.get(move_id)

    def force_complete(self, move_id, context=None):
        """Make a live migration that does not converge finish."""
        move = self.services.store.get(move_id)
        if move['type'] != 'live-migrate':
            raise exception.InvalidTaskAction(
                task=move_id, action='force-completed',
                reason='it is a %s, not a live migration' % move['type'])
        self._check_action(move, 'force-completed', ('migrating-memory',))
        migration = self.services.driver.poll_migration(
            move['instance_uuid'])
        if migration and migration.get('id') not in (None, move_id):
            migration = None    # an earlier move's
        if not migration or migration['status'] not in \
                driver_base.MIGRATION_ACTIVE:
            raise exception.InvalidTaskAction(
                task=move_id, action='force-completed',
                reason='its memory copy is not running (%s)'
                % (migration['status'] if migration else 'not started'))
        try:
            self.services.driver.force_complete_migration(
                move['instance_uuid'])
        except exception.DriverError as e:
            # Not now, or not this migration (post-copy not permitted, say):
            # the operator is told, and nothing is recorded.
            raise exception.InvalidTaskAction(
                task=move_id, action='force-completed',
                reason=e.kwargs.get('reason') or str(e))
        self._record_action(move_id, 'force-complete', context)
        return self.services.store.get(move_id)

    # -- running -------------------------------------------------------------
    def _logbook(self, move):
        backend = self.services.persistence
        with contextlib.closing(backend.get_connection()) as conn:
            try:
                return conn.get_logbook(move['id'])
            except tf_exc.NotFound:
                book = tf_models.LogBook('move-%s' % move['id'],
                                         uuid=move['id'])
                for stage in types_base.STAGES:
                    fd = tf_models.FlowDetail(
                        stage, uuid=flow_detail_uuid(move['id'], stage))
                    fd.meta = {'move_type': move['type'], 'stage': stage}
                    book.add(fd)
                conn.save_logbook(book)
                return book

    def run_move(self, move_id, interrupted=False):
        move = self.services.store.get(move_id)
        if move['state'] in types_base.TERMINAL_STATES:
            # Listed as unfinished a moment ago, finished since (the
            # watcher races the move's own thread): nothing left to do.
            return
        try:
            move_type = move_types.get(move['type'])
            book = self._logbook(move)
            if not move['ponr']:
                outcome = self._run_main(move, move_type, book, interrupted)
                if outcome != tf_states.SUCCESS:
                    return
                self.services.store.update(move_id, ponr=True)
            self._run_stage(move, move_type, book, types_base.CLEANUP)
        except Exception as exc:
            LOG.exception('Move %s could not be run', move_id)
            self._fail(move_id, 'the conductor could not run the move: %s: '
                       '%s' % (type(exc).__name__, exc), None)

    def _fail(self, move_id, reason, step):
        move = self.services.store.get(move_id)
        if move['state'] not in types_base.TERMINAL_STATES:
            self.recorder.fire(move_id, states.FAIL, reason=reason,
                               failed_step=step)

    def _rollback_reason(self, move, interrupted, started):
        """Why a move that was going forward is being reverted, or None."""
        if move['abort_requested_by']:
            return 'aborted by %s' % move['abort_requested_by']
        if move['state'] == types_base.REVERTING:
            return move['reason'] or 'reverting'
        if (interrupted and started
                and self.services.conf.conductor.resume_policy
                == 'rollback'):
            return ('rolled back: the conductor running it stopped '
                    '(resume_policy = rollback)')
        return None

    def _run_main(self, move, move_type, book, interrupted):
        engine, flow, stored = self._load(move, move_type, book,
                                          types_base.MAIN)
        self._catch_up(move, move_type, engine)
        move = self.services.store.get(move['id'])
        started = any(state != tf_states.PENDING for state in
                      flowstate.atom_states(engine).values())
        reason = self._rollback_reason(move, interrupted, started)
        undone = all(state in (tf_states.PENDING, tf_states.REVERTED)
                     for state in flowstate.atom_states(engine).values())
        if reason is not None and (stored == tf_states.REVERTED or undone):
            # Reverted already (or never started); the conductor died
            # before it said so. TaskFlow's prepare() resets a reverted
            # flow to run again, and a conductor killed after that reset
            # leaves every atom pending: nothing is left to undo.
            self._roll_back(move, reason)      # aborted, unstarted
            self.recorder.fire(move['id'], states.DONE_REVERTING,
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
        outcome, listener, error = self._run(engine, flow, move, move_type,
                                             types_base.MAIN)
        if outcome == tf_states.SUSPENDED:
            move = self.services.store.get(move['id'])
            if move['abort_requested_by']:
                reason = 'aborted by %s' % move['abort_requested_by']
                flowstate.mark_for_rollback(engine)
                self._roll_back(move, reason)
                outcome, listener, error = self._run(
                    engine, flow, move, move_type, types_base.MAIN)
        self._record_outcome(move, types_base.MAIN, engine, outcome,
                             listener, error, reason)
        return outcome

    def _roll_back(self, move, reason):
        """Into ``reverting`` (if not there): an abort, or a rollback."""
        event = states.ABORT if move['abort_requested_by'] else states.REVERT
        self.recorder.fire(move['id'], event, expect=states.REVERTING,
                           reason=reason)

    def _catch_up(self, move, move_type, engine):
        """A step that was running when the conductor died is run again
        without TaskFlow announcing it (RUNNING to RUNNING is no change);
        the move's state follows it here, if the kill came before it did.
        """
        for name, state in flowstate.atom_states(engine).items():
            step = move_type.step_for(name)
            if state == tf_states.RUNNING and step is not None:
                current = self.services.store.get(move['id'])['state']
                if current != types_base.REVERTING:
                    self.recorder.enter_step(move['id'], step.move_state)

    def _record_taken_up(self, move, move_type, engine):
        """A step run again after a crash shows in the record as a new
        attempt (TaskFlow does not announce it: RUNNING to RUNNING)."""
        for name, state in flowstate.atom_states(engine).items():
            if state in (tf_states.RUNNING, tf_states.REVERTING):
                self.services.store.add_event(
                    move['id'], 'subtask', name, state,
                    phase=_phase_of(move_type, name),
                    detail={'taken_up': 'interrupted by a stopped conductor'})

    def _run_stage(self, move, move_type, book, stage):
        engine, flow, stored = self._load(move, move_type, book, stage)
        self._catch_up(move, move_type, engine)
        self._record_taken_up(move, move_type, engine)
        if stored in (tf_states.FAILURE, tf_states.REVERTED):
            flowstate.reset_for_retry(engine)   # an operator's resume
        outcome, listener, error = self._run(engine, flow, move, move_type,
                                             stage)
        self._record_outcome(move, stage, engine, outcome, listener, error)
        return outcome

    def _load(self, move, move_type, book, stage):
        flow = flows.build_move_flow(move['id'], stage, self.services)
        fd = book.find(flow_detail_uuid(move['id'], stage))
        stored_atoms = [ad.name for ad in fd]
        stored_state = fd.state
        if stored_state == tf_states.REVERTED and any(
                ad.state == tf_states.REVERT_FAILURE for ad in fd):
            stored_state = tf_states.FAILURE   # TaskFlow's word is wrong
        engine = engines.load(flow, flow_detail=fd, book=book,
                              backend=self.services.persistence,
                              engine='serial')
        # The store is derived from the move record on every load, so it is
        # injected in memory only: TaskFlow's persisted injection takes two
        # commits, and a kill between them left a flow that cannot load.
        engine.storage.inject(engine_store(move), transient=True)
        engine.compile()
        engine.prepare()
        flowstate.check_compatible(engine, stored_atoms, move['id'])
        return engine, flow, stored_state

    def _run(self, engine, flow, move, move_type, stage):
        listener = listener_mod.MoveRecordListener(
            engine, self.recorder, move, move_type, stage)
        fd_uuid = engine.storage.flow_uuid
        self.services.history.register(
            fd_uuid, move['id'], functools.partial(_phase_of, move_type))
        error = None
        with listener:
            self._engines[move['id']] = engine
            try:
                engine.run()
            except Exception as exc:
                error = exc
            finally:
                self._engines.pop(move['id'], None)
                self.services.history.unregister(fd_uuid, [
                    engine.storage.get_atom_uuid(name)
                    for name in flowstate.atom_names(engine)])
        return engine.storage.get_flow_state(), listener, error

    def _record_outcome(self, move, stage, engine, outcome, listener, error,
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
                self.recorder.fire(move_id, states.COMPLETE)
        elif outcome == tf_states.REVERTED and stage == types_base.MAIN \
                and not revert_failed:
            if first[0] is None:
                # Reverting since before a restart: keep the record's why.
                stored = self.services.store.get(move_id)
                reason = stored['reason'] or reason
                first = (stored['failed_step'], None)
            self.recorder.fire(move_id, states.DONE_REVERTING,
                               reason=reason, failed_step=first[0])
        elif outcome == tf_states.SUSPENDED:
            LOG.info('Move %s suspended in %s; the next conductor resumes '
                     'it', move_id, stage)
        elif stage == types_base.CLEANUP:
            self._fail(move_id, 'cleanup after the point of no return gave '
                       'up after %d attempts: %s; the instance runs on %s. '
                       'Fix the cause and resume the task.'
                       % (self.services.conf.conductor.cleanup_attempts,
                          reason, move['dest_host']), first[0])
        else:
            if listener.revert_failures:
                step, err = listener.revert_failures[0]
                what = '%s: %s' % (err['type'], err['message'])
            else:
                step = revert_failed[0] if revert_failed else first[0]
                what = str(error) if error else 'unknown error'
            self._fail(move_id, 'revert of %s failed: %s (after %s). Fix '
                       'the cause, then revert or resume the task.'
                       % (step, what, reason), step)
