"""The jobboard claim source: conductors as a service.

An accepted move is posted on TaskFlow's Redis jobboard as a job naming the
move (its id, nothing else); any conductor claims it and runs it through
the same execution path as the embedded conductor. Where TaskFlow falls
short, this module extends it:

* ``Board.claim`` always sets an expiry (stock conductors claim for ever, so
  a dead conductor's jobs were never taken over), and ``Board.renew`` extends
  it only if the claim is still the caller's (stock ``extend_expiry`` does
  not check the owner, so it could revive a claim another conductor holds);
* ``ClaimListener`` is TaskFlow's ``CheckingClaimListener`` with an owner
  check that survives an unclaimed job (``find_owner`` raises TypeError on
  one) and that marks the claim lost before suspending the engine;
* renewal runs in a thread of its own, so a claim lives through long steps
  (a memory copy), not only between steps;
* a claim carries a fencing token (``db/fencing.py``): a conductor that lost
  its claim cannot write the move again even if it never notices.
"""

import datetime
import threading
import time
import urllib.parse

from oslo_log import log as logging
from taskflow import exceptions as tf_exc
from taskflow.jobs.backends import impl_redis
from taskflow.listeners import claims as tf_claims
from taskflow import states as tf_states

from move_orchestrator.conductor import claims as claims_mod
from move_orchestrator import exception
from move_orchestrator import states

LOG = logging.getLogger(__name__)

_RENEW = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""


def masked(url):
    """The backend URL fit for a log line (no password)."""
    parts = urllib.parse.urlsplit(url or '')
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit('@', 1)[1]
    user = parts.username or ''
    return urllib.parse.urlunsplit(parts._replace(
        netloc='%s:***@%s' % (user, netloc)))


def board_conf(conf):
    """TaskFlow's Redis board configuration from ``[jobboard]``."""
    jb = conf.jobboard
    url = urllib.parse.urlsplit(jb.backend)
    if url.scheme not in ('redis', 'rediss'):
        raise exception.Invalid(
            'Invalid [jobboard] backend %s: only redis:// is supported'
            % masked(jb.backend))
    if jb.renew_interval >= jb.claim_expiry:
        raise exception.Invalid(
            'Invalid [jobboard] renew_interval %s: it must be below '
            'claim_expiry (%s), or claims lapse while their moves run'
            % (jb.renew_interval, jb.claim_expiry))
    board = {'host': url.hostname or '127.0.0.1', 'port': url.port or 6379,
             'namespace': jb.board_name.encode(),
             'ssl': url.scheme == 'rediss'}
    if url.username:
        board['username'] = urllib.parse.unquote(url.username)
    if url.password:
        board['password'] = urllib.parse.unquote(url.password)
    if url.path.strip('/'):
        board['db'] = int(url.path.strip('/'))
    if jb.sentinel:
        board['sentinel'] = jb.sentinel
        board['sentinel_fallbacks'] = list(jb.sentinel_fallbacks)
    return board


class Board(impl_redis.RedisJobBoard):
    """TaskFlow's Redis board; claims expire, and only their owner renews
    them."""

    def __init__(self, name, conf, expiry):
        super().__init__(name, conf)
        self.expiry = expiry
        self._renew_script = None

    def connect(self):
        super().connect()
        self._renew_script = self._client.register_script(_RENEW)

    def claim(self, job, who, expiry=None):
        return super().claim(job, who, expiry=expiry or self.expiry)

    def renew(self, job, who):
        """Extend the claim by one expiry if ``who`` still holds it."""
        with impl_redis._translate_failures():
            return bool(self._renew_script(
                keys=[job.owner_key],
                args=[self._encode_owner(who), int(self.expiry * 1000)]))

    def owner_of(self, job):
        """The job's owner, or None (unclaimed: find_owner would raise)."""
        with impl_redis._translate_failures():
            raw = self._client.get(job.owner_key)
        return self._decode_owner(raw) if raw is not None else None


class ClaimListener(tf_claims.CheckingClaimListener):
    """Checks the claim at each step's state change; on a loss the claim
    is marked lost and the engine suspended (its writes are fenced anyway).
    """

    def __init__(self, engine, claim):
        super().__init__(engine, claim.job, claim.board, claim.conductor,
                         on_job_loss=self._lost)
        self._claim = claim

    def _has_been_lost(self):
        try:
            return self._board.owner_of(self._job) != self._owner
        except (tf_exc.NotFound, tf_exc.JobFailure):
            return True

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
        self.board = Board(self.name, board_conf(services.conf),
                           self.conf.claim_expiry)
        self.conductor = None
        self._claims = {}       # move id -> JobClaim being renewed
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connected = False

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
                         masked(self.conf.backend))

    def start(self, conductor):
        self._connect()
        if not self.run:
            return False
        with self._lock:
            if self.conductor is not None:
                return True
            self.conductor = conductor
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
        if not any(job.details.get('move_id') == move_id
                   for job in self.board.iterjobs(ensure_fresh=True)):
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
                claimed = self._claim_some()
                if time.monotonic() > next_sweep:
                    next_sweep = time.monotonic() + self.conf.claim_expiry
                    self._sweep()
            except Exception:
                LOG.exception('Looking for jobs failed; trying again')
                claimed = 0
            if not claimed:
                self._stopping.wait(self.conf.poll_interval)

    def _sweep(self):
        """Post again the unfinished moves that have no job: accepted while
        the board was unreachable, or whose jobs a Redis without
        persistence lost. Only moves older than a claim expiry, so that a
        move being accepted right now is not posted twice."""
        on_board = {(job.details or {}).get('move_id')
                    for job in self.board.iterjobs(ensure_fresh=True)}
        horizon = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None) - datetime.timedelta(seconds=self.conf.claim_expiry)
        for move in self.services.store.list_unfinished():
            if move['state'] != states.FAILED and \
                    move['id'] not in on_board and \
                    not self.conductor.running(move['id']) and \
                    move['updated_at'] < horizon:
                LOG.warning('Move %s (%s) had no job on the board: posting '
                            'it again', move['id'], move['state'])
                self.posted(move)

    def _claim_some(self):
        free = self.conf.workers - len(self._claims)
        if free <= 0:
            return 0
        jobs = sorted(self.board.iterjobs(only_unclaimed=True,
                                          ensure_fresh=True),
                      key=lambda j: j.sequence)   # first posted, first run
        claimed = 0
        for job in jobs:
            if claimed >= free or self._stopping.is_set():
                break
            move_id = (job.details or {}).get('move_id')
            if move_id is None or self.conductor.running(move_id):
                continue
            try:
                move = self.services.store.get(move_id)
            except exception.TaskNotFound:
                move = None
            if move is not None and not self.admit(self.services, [move]):
                continue
            try:
                self.board.claim(job, self.name)
            except (tf_exc.UnclaimableJob, tf_exc.NotFound):
                continue        # another conductor was quicker
            if move is None or move['state'] in states.TERMINAL_STATES:
                self.board.consume(job, self.name)   # nothing left to run
                continue
            with self._lock:
                self._claims[move_id] = JobClaim(self, job, move_id)
            self.conductor.schedule(move_id, interrupted=True)
            claimed += 1
        return claimed

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
            with self._lock:
                held = list(self._claims.values())
            for claim in held:
                try:
                    if not self.board.renew(claim.job, self.name):
                        claim.lose()
                except Exception:
                    # Redis unreachable: the claim may lapse; the fencing
                    # token keeps a takeover safe. Try again next round.
                    LOG.warning('Could not renew the claim on move %s',
                                claim.move_id, exc_info=True)

    def stop(self):
        self._stopping.set()

    def release(self):
        with self._lock:
            connected, self._connected = self._connected, False
        if connected:
            self.board.close()


def abandon_jobs_of(services, owner):
    """Hand back at once the jobs a dead process of this host held, so that
    others need not wait for their claims to lapse."""
    board = Board(owner, board_conf(services.conf),
                  services.conf.jobboard.claim_expiry)
    board.connect()
    try:
        given = 0
        for job in board.iterjobs(ensure_fresh=True):
            if job.state == tf_states.CLAIMED and board.owner_of(job) == owner:
                try:
                    board.abandon(job, owner)
                    given += 1
                except (tf_exc.NotFound, tf_exc.JobFailure):
                    pass
        return given
    finally:
        board.close()


def wait_connected(claims, timeout=30.0):
    """Until the board answers (a conductor starting with Redis)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            claims._connect()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
