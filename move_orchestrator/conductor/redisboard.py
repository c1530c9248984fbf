"""TaskFlow's Redis jobboard, with claims that expire and that only their
owner renews.

Stock TaskFlow conductors claim for ever, so a dead conductor's jobs were
never taken over: ``Board.claim`` here always sets an expiry. Stock
``extend_expiry`` does not check the owner, so it could revive a claim
another conductor holds: ``Board.renew`` extends a claim only if it is
still the caller's (one Redis script, so the check and the extension are
one step). ``Board.listing`` reads every job with its owner in two round
trips, where ``iterjobs`` asks each job's state in a round trip of its own.
"""

import urllib.parse

from taskflow import exceptions as tf_exc
from taskflow.jobs.backends import impl_redis

from move_orchestrator import exception

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

    def jobs(self):
        """Every job listed, in one round trip (``iterjobs`` also asks each
        job's state, one round trip a job)."""
        return self._fetch_jobs()

    def listing(self):
        """[(job, its owner or None)] of every job on the board: the
        listing, then every owner in one pipeline. A conductor looks at the
        board several times a second: 2 round trips a look, not 1 + N."""
        jobs = self.jobs()
        if not jobs:
            return []
        with impl_redis._translate_failures():
            pipe = self._client.pipeline(transaction=False)
            for job in jobs:
                pipe.get(job.owner_key)
            raws = pipe.execute()
        return [(job, self._decode_owner(raw) if raw is not None else None)
                for job, raw in zip(jobs, raws)]


def abandon_jobs_of(services, owner):
    """Hand back at once the jobs a dead process of this host held, so that
    others need not wait for their claims to lapse."""
    board = Board(owner, board_conf(services.conf),
                  services.conf.jobboard.claim_expiry)
    board.connect()
    try:
        given = 0
        for job, holder in board.listing():
            if holder == owner:
                try:
                    board.abandon(job, owner)
                    given += 1
                except (tf_exc.NotFound, tf_exc.JobFailure):
                    pass
        return given
    finally:
        board.close()
