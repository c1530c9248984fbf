"""Fenced writes: a move's records and atoms are written only under its
current claim.

Each claim on a move raises ``moves.generation`` by one (the fencing token)
and names its conductor. A process registers the token of each move it
runs; every write of that move (state change, event, atom save) first
reads the move's generation *for update* in the same transaction and is
refused with ``ClaimLost`` if it is not the registered one. The row lock
orders the check against a competing claim's increment: either the write
commits before the new claim, or it sees the new generation and is rolled
back. Writes of moves this process does not run (operators' requests,
reads) are not fenced.

The same token travels with the calls a conductor makes to compute agents
for the move's instance (the request context's ``claim``): an agent checks
it against the database before it changes anything (``check_current``), so
a deposed conductor that wakes up mid-step, or whose call waited in a
queue, cannot act on the hypervisor behind its successor's back either.
"""

import threading
import uuid

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator import exception

_MOVES = models.Move.__table__
_PEEK_GENERATION = sa.select(_MOVES.c.generation).where(
    _MOVES.c.id == sa.bindparam('move_id'))
_READ_GENERATION = _PEEK_GENERATION.with_for_update()
_READ_CLAIM = sa.select(
    _MOVES.c.generation, _MOVES.c.conductor, _MOVES.c.instance_uuid).where(
    _MOVES.c.id == sa.bindparam('move_id')).with_for_update()
_SET_CLAIM = _MOVES.update().where(_MOVES.c.id == sa.bindparam('move_id')).values(
    generation=sa.bindparam('token'), conductor=sa.bindparam('holder'))


def flow_detail_uuid(move_id, stage):
    """The flow detail of one stage of a move (its atoms' parent)."""
    return str(uuid.uuid5(uuid.UUID(move_id), stage))


class Fences:
    """The claims this process holds: move id -> fencing token."""

    def __init__(self, stages=()):
        self._stages = tuple(stages)
        self._tokens = {}
        self._flows = {}     # flow detail uuid -> move id
        self._instances = {}    # instance uuid -> move id
        self._lock = threading.Lock()

    def hold(self, move_id, token, instance_uuid=None):
        with self._lock:
            self._tokens[move_id] = token
            for stage in self._stages:
                self._flows[flow_detail_uuid(move_id, stage)] = move_id
            if instance_uuid is not None:
                self._instances[instance_uuid] = move_id

    def release(self, move_id, token=None):
        with self._lock:
            if token is not None and self._tokens.get(move_id) != token:
                return      # a newer claim of this process holds it
            self._tokens.pop(move_id, None)
            for stage in self._stages:
                self._flows.pop(flow_detail_uuid(move_id, stage), None)
            for instance, held in list(self._instances.items()):
                if held == move_id:
                    del self._instances[instance]

    def token(self, move_id):
        return self._tokens.get(move_id)

    def may_have_run(self, move_id):
        """Whether the move may have run before this process's claim of it
        (resumed, taken over): its first claim is generation 1, and every
        run claims it. True when this process holds no claim on it."""
        token = self._tokens.get(move_id)
        return token is None or token > 1

    def claim_on(self, instance_uuid):
        """The claim this process runs the instance's move under, as the
        plain value a compute agent checks, or None."""
        with self._lock:
            move_id = self._instances.get(instance_uuid)
            token = self._tokens.get(move_id)
        if token is None:
            return None
        return {'move': move_id, 'generation': token}

    def check(self, conn, move_id):
        """Raise ClaimLost unless the move's claim is still ours; ``conn``
        is the connection (or session) of the write's transaction."""
        token = self._tokens.get(move_id)
        if token is None:
            return
        self.verify(move_id, conn.execute(_READ_GENERATION,
                                          {'move_id': move_id}).scalar())

    def verify(self, move_id, generation):
        """Raise ClaimLost unless ``generation``, the move's as the caller
        read it (for update, in a write's transaction), is our claim's."""
        token = self._tokens.get(move_id)
        if token is not None and generation != token:
            raise exception.ClaimLost(move=move_id, generation=token)

    def still_held(self, conn, move_id):
        """Raise ClaimLost unless the move's claim is still ours, from a
        read-only transaction: a generation only grows, so an unlocked
        read sees a loss, and it takes no lock and commits nothing (for a
        conductor's look between two writes, not for a write's check)."""
        token = self._tokens.get(move_id)
        if token is None:
            return
        self.verify(move_id, conn.execute(_PEEK_GENERATION,
                                          {'move_id': move_id}).scalar())

    def check_flow(self, conn, fd_uuid):
        move_id = self._flows.get(fd_uuid)
        if move_id is not None:
            self.check(conn, move_id)


def take(session, move_id, conductor):
    """A new claim on the move, in ``session``: its new fencing token, the
    conductor of the claim before (None for the first) and the move's
    instance."""
    row = session.execute(_READ_CLAIM, {'move_id': move_id}).first()
    if row is None:
        raise exception.TaskNotFound(task=move_id)
    token = row.generation + 1
    session.execute(_SET_CLAIM, {'move_id': move_id, 'token': token,
                                 'holder': conductor})
    return token, row.conductor, row.instance_uuid


def check_current(conn, claim):
    """Raise ClaimLost unless ``claim`` (``{'move', 'generation'}``, as a
    conductor sends it) is the move's current one. A compute agent asks
    before it acts; an unlocked read is enough, a generation only grows."""
    try:
        move_id, token = claim['move'], int(claim['generation'])
    except (TypeError, KeyError, ValueError) as e:
        raise exception.Invalid('malformed claim %r' % (claim,)) from e
    current = conn.execute(_PEEK_GENERATION, {'move_id': move_id}).scalar()
    if current != token:
        raise exception.ClaimLost(move=move_id, generation=token)
