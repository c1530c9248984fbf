"""Runs moves: each one two TaskFlow engines on the persistence backend.

The first engine runs claim to switch-over; when it succeeds the move has
passed its point of no return, which is recorded before the cleanup engine
starts. Both engines' atoms are persisted, so a conductor that dies mid-move
is replaced by one that loads the same flow details and carries on.
"""

import contextlib
import threading
import uuid

import futurist
from oslo_log import log as logging
from taskflow import engines
from taskflow.persistence import models as tf_models
from taskflow import states as tf_states

from move_orchestrator.conductor import recorder as recorder_mod
from move_orchestrator import exception
from move_orchestrator.moves import request as move_request
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.records import listener as listener_mod

LOG = logging.getLogger(__name__)


def flow_detail_uuid(move_id, stage):
    return str(uuid.uuid5(uuid.UUID(move_id), stage))


def engine_store(move):
    return {'move_id': move['id'], 'instance_uuid': move['instance_uuid'],
            'source': move['source_host'], 'dest': move['dest_host'],
            'live': move['live'], **move['params']}


class Conductor:
    """The embedded conductor: moves run in this process's thread pool."""

    def __init__(self, services):
        self.services = services
        self.recorder = recorder_mod.Recorder(services.store)
        self._executor = futurist.ThreadPoolExecutor(
            max_workers=services.conf.conductor.max_concurrent_moves)
        self._futures = {}
        self._lock = threading.Lock()

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
            self.schedule(move['id'])
        return move

    def schedule(self, move_id):
        with self._lock:
            future = self._futures.get(move_id)
            if future is not None and not future.done():
                return future
            future = self._executor.submit(self.run_move, move_id)
            self._futures[move_id] = future
            return future

    def wait(self, move_id, timeout=None):
        future = self._futures.get(move_id)
        if future is not None:
            future.result(timeout=timeout)
        return self.services.store.get(move_id)

    def wait_all(self, timeout=None):
        for future in list(self._futures.values()):
            future.result(timeout=timeout)

    def resume_unfinished(self):
        """Schedule every move a previous conductor left unfinished."""
        moves = self.services.store.list_unfinished()
        for move in moves:
            if move['state'] != types_base.FAILED:
                LOG.info('Resuming move %s (%s, %s)', move['id'],
                         move['type'], move['state'])
                self.schedule(move['id'])
        return moves

    def shutdown(self, wait=True):
        self._executor.shutdown(wait=wait)

    # -- running -------------------------------------------------------------
    def _logbook(self, move):
        backend = self.services.persistence
        with contextlib.closing(backend.get_connection()) as conn:
            try:
                return conn.get_logbook(move['id'])
            except Exception:  # taskflow raises NotFound
                book = tf_models.LogBook('move-%s' % move['id'],
                                         uuid=move['id'])
                for stage in types_base.STAGES:
                    fd = tf_models.FlowDetail(
                        stage, uuid=flow_detail_uuid(move['id'], stage))
                    fd.meta = {'move_type': move['type'], 'stage': stage}
                    book.add(fd)
                conn.save_logbook(book)
                return book

    def run_move(self, move_id):
        move = self.services.store.get(move_id)
        move_type = move_types.get(move['type'])
        try:
            book = self._logbook(move)
            if not move['ponr']:
                outcome = self._run_stage(move, move_type, book,
                                          types_base.MAIN)
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
            self.recorder.advance(move_id, types_base.FAILED, reason=reason,
                                  failed_step=step)

    def _run_stage(self, move, move_type, book, stage):
        flow = move_type.build_flow(stage, self.services)
        fd = book.find(flow_detail_uuid(move['id'], stage))
        engine = engines.load(flow, flow_detail=fd, book=book,
                              backend=self.services.persistence,
                              engine='serial', store=engine_store(move))
        listener = listener_mod.MoveRecordListener(
            engine, self.recorder, move, move_type, flow, stage)
        error = None
        with listener:
            try:
                engine.run()
            except Exception as exc:
                error = exc
        outcome = engine.storage.get_flow_state()
        self._record_outcome(move, stage, outcome, listener, error)
        return outcome

    def _record_outcome(self, move, stage, outcome, listener, error):
        move_id = move['id']
        first = listener.failures[0] if listener.failures else (None, None)
        reason = '%s failed: %s: %s' % (
            first[0], first[1]['type'], first[1]['message']) \
            if first[0] else (str(error) if error else None)
        if outcome == tf_states.SUCCESS:
            if stage == types_base.CLEANUP:
                self.recorder.advance(move_id, types_base.COMPLETED)
        elif outcome == tf_states.REVERTED and stage == types_base.MAIN:
            self.recorder.advance(move_id, types_base.REVERTED,
                                  reason=reason, failed_step=first[0])
        elif outcome == tf_states.SUSPENDED:
            LOG.info('Move %s suspended in %s; it resumes with the next '
                     'conductor', move_id, stage)
        elif stage == types_base.CLEANUP:
            self._fail(move_id, 'cleanup after the point of no return gave '
                       'up after %d attempts: %s; the instance runs on %s. '
                       'Fix the cause and resume the task.'
                       % (self.services.conf.conductor.cleanup_attempts,
                          reason, move['dest_host']), first[0])
        else:
            bad = listener.revert_failures[0] if listener.revert_failures \
                else (first[0], first[1])
            self._fail(move_id, 'revert of %s failed: %s: %s (after %s). '
                       'Fix the cause, then revert or resume the task.'
                       % (bad[0], bad[1]['type'] if bad[1] else 'error',
                          bad[1]['message'] if bad[1] else error, reason),
                       bad[0])
