"""The conductor: a claim source feeding one execution path.

Wiring only: the claim source (``claims``: the local owner lock, or the
jobboard) says which moves this process runs; each runs in this process's
thread pool through ``execution``; ``outcomes`` maps an engine's result to
the move's event; operators' ``actions`` ask the claim source to run a
move again.
"""

import threading
import time

import futurist
from oslo_log import log as logging

from move_orchestrator.conductor import actions as actions_mod
from move_orchestrator.conductor import admission as admission_mod
from move_orchestrator.conductor import claims as claims_mod
from move_orchestrator.conductor import drains as drains_mod
from move_orchestrator.conductor import execution as execution_mod
from move_orchestrator.conductor import recorder as recorder_mod
from move_orchestrator.db import outage
from move_orchestrator import exception
from move_orchestrator.moves import request as move_request
from move_orchestrator import states

LOG = logging.getLogger(__name__)

# Kept importable from here (tests and tools use them).
flow_detail_uuid = execution_mod.flow_detail_uuid
lock_path = claims_mod.lock_path


class Conductor:
    """Runs the moves its claim source hands it, in a thread pool."""

    def __init__(self, services, claims=None):
        self.services = services
        self.recorder = recorder_mod.Recorder(services.store)
        self.execution = execution_mod.Execution(services, self.recorder)
        # Which moves may run now within the limits, across conductors.
        self.admission = admission_mod.Admission(services.db, services.conf)
        self.claims = claims or claims_mod.for_conf(services)
        self.claims.admit = self.admit
        self.actions = actions_mod.Actions(services, self.recorder,
                                           self.claims.nudge)
        self.drains = drains_mod.Drains(services, abort_move=self.abort,
                                        resume_move=self.resume,
                                        post_move=self.claims.posted)
        self._executor = futurist.ThreadPoolExecutor(
            max_workers=self.claims.workers
            or services.conf.conductor.max_concurrent_moves)
        self._futures = {}
        self._lock = threading.Lock()

    # -- the claim source ----------------------------------------------------
    @property
    def owns_database(self):
        """Whether this process runs moves (holds its claim source)."""
        return self.claims.owns

    def start(self):
        """Start taking moves from the claim source; False if another
        process runs this database's moves (embedded mode)."""
        return self.claims.start(self)

    def resume_unfinished(self):
        """Take up every move the claim source lets this process run."""
        if not self.start():
            return []
        return self.claims.take_up()

    def admit(self, services, moves):
        """The admission seam (``claims.runnable``): which of these moves
        the limits let start now (conductor/admission)."""
        allowed = set(self.admission.runnable())
        return [m for m in moves if m['id'] in allowed]

    def tick_drains(self):
        """Advance every unfinished drain once. The claim source calls it
        once per look for work, whatever the look finds: a drain with no
        child yet has no move (nor job) to be found through. A new child
        is posted like an accepted move."""
        self.drains.tick()

    def kick(self):
        """Look for moves to take up now, not at the next watch."""
        self.claims.kick()

    # -- accepting ---------------------------------------------------------
    def submit(self, request, context=None):
        """Validate, persist as ``accepted``, and post. Returns the move.

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
            self.claims.posted(move)
        return move

    # -- running -------------------------------------------------------------
    def schedule(self, move_id, interrupted=False):
        """Run a move here (the claim source decided it is ours)."""
        with self._lock:
            future = self._futures.get(move_id)
            if future is not None and not future.done():
                return future
            future = self._executor.submit(self._run, move_id, interrupted)
            self._futures[move_id] = future
            return future

    def _run(self, move_id, interrupted):
        try:
            # A database outage is waited out here (db/outage.py).
            with outage.waiting(), self.claims.holding(move_id) as claim:
                self.execution.run_move(move_id, interrupted, claim)
        finally:
            self.kick()   # its slot may be free: admit the next ones

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
            if move['state'] in states.TERMINAL_STATES:
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

    def idle(self):
        return not any(self.running(m) for m in list(self._futures))

    def suspend_all(self):
        """Stop every running move after its current step (SIGTERM)."""
        self.execution.suspend_all()

    def shutdown(self, wait=True):
        self.claims.stop()
        self._executor.shutdown(wait=wait)
        if wait or self.idle():
            self.services.close()   # no move left to use the driver
        self.claims.release()

    # -- operators' actions ------------------------------------------------
    def abort(self, move_id, context=None):
        return self.actions.abort(move_id, context)

    def resume(self, move_id, context=None):
        return self.actions.resume(move_id, context)

    def revert(self, move_id, context=None):
        return self.actions.revert(move_id, context)

    def force_complete(self, move_id, context=None):
        return self.actions.force_complete(move_id, context)
