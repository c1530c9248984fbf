"""The jobboard claim source: conductors as a service.

An accepted move is posted on TaskFlow's Redis jobboard (``redisboard.py``:
claims that expire, renewed only by their owner) as a job naming the move
(its id, nothing else); any conductor's dispatcher claims it and runs it
through the same execution path as the embedded conductor, under a
``jobclaim.JobClaim``. The dispatcher also renews every claim it holds from
a thread of its own, takes back a claim that vanished while nobody else
took the move, and posts again the moves that have no job.

Conductors share the jobs: each announces itself on the board (a key that
lapses one claim expiry after its last renewal round) and takes in one look
its part of the jobs waiting, ``redisboard.share``, then lets the others
look before it takes more; a conductor alone takes everything at once.
"""

import datetime
import threading
import time

from oslo_log import log as logging
from taskflow import exceptions as tf_exc
from taskflow.jobs.backends import impl_redis

from move_orchestrator.conductor import claims as claims_mod
from move_orchestrator.conductor import jobclaim
from move_orchestrator.conductor import redisboard
from move_orchestrator.db import outage
from move_orchestrator import exception
from move_orchestrator import states

LOG = logging.getLogger(__name__)


class JobboardClaims:
    """Moves come from the board. With ``run=False`` (an RPC process whose
    moves run in a child, or an operator's CLI) this process only posts
    jobs."""

    posts_jobs = True

    @property
    def workers(self):
        return self.conf.workers

    def __init__(self, services, run=False, admit=claims_mod.runnable):
        self.services = services
        self.conf = services.conf.jobboard
        self.run = run
        self.admit = admit
        self.name = claims_mod.conductor_name(services.conf)
        self.board = redisboard.Board(
            self.name, redisboard.board_conf(services.conf),
            self.conf.claim_expiry)
        self.conductor = None
        self.entity = redisboard.conductor_entity(self.name)
        self._claims = {}       # move id -> JobClaim being renewed
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connected = False
        self._down_logged = {}
        self._missing = {}      # move id -> when a sweep first missed its job

    @property
    def owns(self):
        return self.run and self.conductor is not None

    def _connect(self):
        with self._lock:
            if not self._connected:
                with impl_redis._translate_failures():
                    self.board.connect()
                self._connected = True
                LOG.info('Jobboard %s at %s', self.conf.board_name,
                         redisboard.masked(self.conf.backend))

    def start(self, conductor):
        self._connect()
        if not self.run:
            return False
        with self._lock:
            if self.conductor is not None:
                return True
            self.conductor = conductor
        try:
            self.board.register_entity(self.entity)
        except tf_exc.JobFailure as e:
            self._board_down(e, 'renewing claims')    # the renewal retries
        for target, name in ((self._dispatch, 'jobboard-dispatch'),
                             (self._renew, 'jobboard-renew')):
            threading.Thread(target=target, name=name, daemon=True).start()
        LOG.info('Conductor %s takes moves from the jobboard', self.name)
        return True

    # -- posting -------------------------------------------------------------
    def posted(self, move):
        """Post the move's job. The move is accepted (persisted) already:
        with the board unreachable it is posted later by a conductor's
        sweep, and the caller still gets its task."""
        try:
            self._connect()
            self.board.post('move-%s' % move['id'],
                            details={'move_id': move['id']})
        except tf_exc.JobFailure as e:
            LOG.warning('Could not post move %s on the jobboard (%s); a '
                        'conductor posts it again within %.0f s',
                        move['id'], e, 2 * self.conf.claim_expiry)

    def nudge(self, move_id):
        """An operator acted on a move: post it again unless a job for it
        is on the board (a failed move's job was consumed)."""
        self._connect()
        if not any((job.details or {}).get('move_id') == move_id
                   for job in self.board.jobs()):
            self.posted({'id': move_id})

    def take_up(self):
        return []       # the dispatcher does, continuously

    def kick(self):
        """Nothing to do: the dispatcher looks at the board continuously."""

    # -- running -------------------------------------------------------------
    def _dispatch(self):
        next_sweep = time.monotonic() + self.conf.claim_expiry
        while not self._stopping.is_set():
            try:
                # Once per pass, whatever the board holds (a drain with no
                # child yet has no job) and however busy this process is.
                self.conductor.tick_drains()
                claimed, left = self._claim_some()
                if time.monotonic() > next_sweep:
                    next_sweep = time.monotonic() + self.conf.claim_expiry
                    self._sweep()
            except Exception as e:
                if isinstance(e, tf_exc.JobFailure) or \
                        outage.unavailable_cause(e) is not None:
                    self._board_down(e, 'looking for jobs')
                else:
                    LOG.exception('Looking for jobs failed; trying again')
                claimed, left = 0, False
            if left or not claimed:
                self._stopping.wait(self.conf.poll_interval)

    def _sweep(self):
        """Post again the unfinished moves that have no job: accepted while
        the board was unreachable, or whose jobs a Redis without
        persistence lost. Only moves older than a claim expiry, so that a
        move being accepted right now is not posted twice, and missed by
        two sweeps at least two renewals apart: after a Redis restart the
        conductor still running a move claims it again at its next
        renewal, and a job posted here first would let another conductor
        run the move beside it until fencing stops the first."""
        on_board = {(job.details or {}).get('move_id')
                    for job in self.board.jobs()}
        horizon = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None) - datetime.timedelta(seconds=self.conf.claim_expiry)
        now = time.monotonic()
        missing = {}
        for move in self.services.store.list_unfinished():
            if move['state'] != states.FAILED and \
                    move['id'] not in on_board and \
                    not self.conductor.running(move['id']) and \
                    move['updated_at'] < horizon:
                since = missing[move['id']] = self._missing.get(move['id'], now)
                if now - since < 2 * self.conf.renew_interval:
                    continue
                LOG.warning('Move %s (%s) had no job on the board: posting '
                            'it again', move['id'], move['state'])
                self.posted(move)
        self._missing = missing

    def _claim_some(self):
        """Claim this conductor's share of the runnable unclaimed jobs:
        (how many it claimed, whether the others should look first)."""
        free = self.conf.workers - len(self._claims)
        if free <= 0:
            return 0, False
        listing = self.board.listing()
        jobs = sorted((job for job, owner in listing if owner is None),
                      key=lambda j: j.sequence)   # first posted, first run
        if not jobs:
            return 0, False
        # Admission once per pass, for every job at once: one read of the
        # unfinished moves, one decision of the limits.
        unfinished = self.services.store.list_unfinished(
            fields=('id', 'state'))
        allowed = {m['id'] for m in self.admit(self.services, unfinished)}
        known = {m['id'] for m in unfinished}
        runnable = []
        for job in jobs:
            move_id = (job.details or {}).get('move_id')
            if move_id is None or self.conductor.running(move_id):
                continue
            if move_id in allowed:
                runnable.append((job, move_id, False))
            elif move_id not in known and not self._exists(move_id):
                runnable.append((job, move_id, True))   # nothing to run
            # else: it waits for a slot, or it ended
        if not runnable:
            return 0, False
        limit, others = self.board.part(self.name, len(runnable), free,
                                        listing)
        claimed = 0
        for job, move_id, gone in runnable:
            if claimed >= limit or self._stopping.is_set():
                break
            try:
                self.board.claim(job, self.name)
            except (tf_exc.UnclaimableJob, tf_exc.NotFound):
                continue        # another conductor was quicker
            if gone:
                self.board.consume(job, self.name)   # nothing left to run
                continue
            with self._lock:
                self._claims[move_id] = jobclaim.JobClaim(self, job, move_id)
            self.conductor.schedule(move_id, interrupted=True)
            claimed += 1
        # With others live, look again only after they could: a conductor
        # looking again at once would take each job as it is posted.
        return claimed, others and claimed > 0

    def _exists(self, move_id):
        try:
            self.services.store.get(move_id)
            return True
        except exception.TaskNotFound:
            return False

    def holding(self, move_id):
        with self._lock:
            return self._claims[move_id]

    def renewing(self, claim):
        with self._lock:
            self._claims[claim.move_id] = claim

    def renewed(self, claim):
        with self._lock:
            if self._claims.get(claim.move_id) is claim:
                del self._claims[claim.move_id]

    def _renew(self):
        """Renew every claim this process holds, whatever its steps do."""
        while not self._stopping.wait(self.conf.renew_interval):
            try:
                # This conductor is alive as long as its claims are.
                self.board.register_entity(self.entity)
            except Exception as e:
                self._board_down(e, 'renewing claims')
            with self._lock:
                held = list(self._claims.values())
            for claim in held:
                try:
                    if not self.board.renew(claim.job, self.name) and \
                            not self._reclaim(claim):
                        claim.lose()
                except Exception as e:
                    # Redis unreachable: not a lost claim. The move goes on
                    # while its generation is current in the database (the
                    # fencing token keeps a takeover safe); try again next
                    # round.
                    self._board_down(e, 'renewing claims')

    def _reclaim(self, claim):
        """A claim that vanished while nobody else took the move (a Redis
        restarted without persistence lost it, or it lapsed while Redis
        was unreachable): take it again, on a job posted anew if the job
        is gone too, as long as the move's generation in the database is
        still this claim's. True if the claim is ours again."""
        if claim.token is None or self.services.store.get(
                claim.move_id)['generation'] != claim.token:
            return False
        if self.board.owner_of(claim.job) is not None:
            return False        # another conductor holds it
        try:
            self.board.claim(claim.job, self.name)
        except tf_exc.NotFound:
            job = self.board.post('move-%s' % claim.move_id,
                                  details={'move_id': claim.move_id})
            try:
                self.board.claim(job, self.name)
            except (tf_exc.UnclaimableJob, tf_exc.NotFound):
                return False
            claim.job = job
        except tf_exc.UnclaimableJob:
            return False
        LOG.warning('The claim on move %s had vanished from the jobboard '
                    '(nobody else took it): claimed again', claim.move_id)
        return True

    def _board_down(self, error, doing):
        """One warning line per cause every storage_log_interval."""
        cause = (outage.unavailable_cause(error) and 'database') or 'board'
        now = time.monotonic()
        if now - self._down_logged.get((cause, doing), -1e9) < \
                self.services.conf.conductor.storage_log_interval:
            return
        self._down_logged[(cause, doing)] = now
        LOG.warning('%s unavailable while %s (%s: %s); running moves go '
                    'on, retrying', 'Jobboard' if cause == 'board' else
                    'Storage', doing, type(error).__name__,
                    ' '.join(str(error).split())[:300])

    def stop(self):
        self._stopping.set()

    def release(self):
        with self._lock:
            connected, self._connected = self._connected, False
        if connected:
            if self.conductor is not None:
                try:
                    self.board.unregister(self.name)   # gone: at once
                except tf_exc.JobFailure as e:
                    LOG.info('Conductor %s left the board as is: %s',
                             self.name, e)
            self.board.close()
