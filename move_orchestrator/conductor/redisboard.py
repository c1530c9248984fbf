"""TaskFlow's Redis jobboard, with claims that expire and that only their
owner renews.

Stock TaskFlow conductors claim for ever, so a dead conductor's jobs were
never taken over: ``Board.claim`` here always sets an expiry. Stock
``extend_expiry`` does not check the owner, so it could revive a claim
another conductor holds: ``Board.renew`` extends a claim only if it is
still the caller's (one Redis script, so the check and the extension are
one step). ``Board.listing`` reads every job with its owner in two round
trips, where ``iterjobs`` asks each job's state in a round trip of its own.

TaskFlow's Redis board registers no entity (``register_entity`` does
nothing; its ZooKeeper board makes an ephemeral node that dies with the
session): here a conductor entity is a key of the board's namespace
expiring after one claim expiry, registered again at each renewal, so
conductors can count the live ones and share the jobs among them. A key
of its own per conductor, not a field of a shared hash, so that Redis
itself forgets a dead conductor (fields do not expire).
"""

import math
import os
import urllib.parse

from oslo_serialization import jsonutils
from taskflow import exceptions as tf_exc
from taskflow.conductors import base as conductor_base
from taskflow.jobs.backends import impl_redis
from taskflow.types import entity as tf_entity

from move_orchestrator import exception

_RENEW = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""


# KEYS: the conductor's key, the index; ARGV: name, entity, expiry (ms).
_REGISTER = """
redis.call("set", KEYS[1], ARGV[2], "px", ARGV[3])
redis.call("sadd", KEYS[2], ARGV[1])
if redis.call("pttl", KEYS[2]) < tonumber(ARGV[3]) then
    redis.call("pexpire", KEYS[2], ARGV[3])
end
return 1
"""


def conductor_entity(name):
    """This process as TaskFlow names a conductor entity."""
    return tf_entity.Entity(conductor_base.Conductor.ENTITY_KIND, name,
                            {'pid': os.getpid()})


def share(unclaimed, live, free, held=0, mine=0):
    """How many of ``unclaimed`` jobs one of ``live`` conductors claims in
    one look, with ``free`` workers, the live conductors holding ``held``
    jobs already, ``mine`` of them its own.

    At most its part of the jobs waiting, rounded up so that none is left
    over (at least one), never more than it can run; and never so many
    that it would hold more than its part of all the jobs, waiting or
    held: a conductor whose looks come quicker (a less loaded machine)
    would otherwise take a part at each of its looks while a slower one
    makes one, and end up with all of them. A conductor alone takes
    everything; others' full workers count as their part, so a busy
    conductor leaves the jobs to the one with room.
    """
    if free <= 0 or unclaimed <= 0:
        return 0
    live = max(1, live)
    whole = math.ceil((unclaimed + held) / live) - mine
    return max(0, min(free, math.ceil(unclaimed / live), whole))


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
        self._register_script = None

    def connect(self):
        super().connect()
        self._renew_script = self._client.register_script(_RENEW)
        self._register_script = self._client.register_script(_REGISTER)

    # -- conductors ---------------------------------------------------------
    @property
    def conductors_key(self):
        """The set naming the conductors that registered (live or not)."""
        return self.join(b'conductors')

    def conductor_key(self, name):
        return self.join(b'conductor', name)

    def register_entity(self, entity):
        """Announce (again) a conductor: its key lives one claim expiry.
        The index set lives as long as its newest member, so neither
        outlives the last conductor by more than an expiry."""
        if entity.kind != conductor_base.Conductor.ENTITY_KIND:
            return
        with impl_redis._translate_failures():
            self._register_script(
                keys=[self.conductor_key(entity.name), self.conductors_key],
                args=[entity.name, jsonutils.dumps(entity.to_dict()),
                      int(self.expiry * 1000)])

    def unregister(self, name):
        """A conductor that leaves (or a dead one's replacement) says so
        at once, rather than waiting for its key to lapse."""
        with impl_redis._translate_failures():
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(self.conductor_key(name))
            pipe.srem(self.conductors_key, name)
            pipe.execute()

    def live_conductors(self):
        """The names of the conductors whose key has not lapsed; the
        lapsed ones leave the index (one that registers again between the
        read and the removal is back in it at its next renewal round)."""
        with impl_redis._translate_failures():
            names = sorted(n.decode() for n in
                           self._client.smembers(self.conductors_key))
            if not names:
                return []
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.exists(self.conductor_key(name))
            alive = pipe.execute()
            dead = [n for n, up in zip(names, alive) if not up]
            if dead:
                self._client.srem(self.conductors_key, *dead)
        return [n for n, up in zip(names, alive) if up]

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

    def part(self, who, waiting, free, listing):
        """How many of ``waiting`` jobs ``who`` claims now (``share``),
        from the live conductors and the owners in ``listing``; whether
        others are live (then it lets them look before it looks again)."""
        live = set(self.live_conductors()) | {who}
        owners = [owner for _job, owner in listing if owner in live]
        return share(waiting, len(live), free, held=len(owners),
                     mine=owners.count(who)), len(live) > 1

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
        board.unregister(owner)
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
