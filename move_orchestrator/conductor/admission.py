"""Admission: which moves may run now, within the concurrency limits.

Decided in one database transaction that first locks the one admission
row, so every conductor of the database sees the others' admissions: the
limits hold across processes and machines, never per process. A move is
admitted once (``admitted_at``) and holds its slot until it reaches a
terminal state: ``completed``, ``reverted`` or ``failed``. A failed move
runs nothing and an operator may leave it for days; holding its slot would
stop every later move off its host. Resuming or reverting it takes its slot
back at once, over the limits if need be: the operator asked for it.

Waiting moves are taken oldest first. A move blocked by a full resource
does not stop later moves that need other resources (head-of-line blocking
is per resource, not global); its task says what it waits for.
"""

import sqlalchemy as sa
from oslo_log import log as logging

from move_orchestrator.db import models
from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from move_orchestrator import states

LOG = logging.getLogger(__name__)

LOCK_ID = 1
# Moves that send nothing from their source (it is down, or the move stays
# on its host): the outbound limits skip them.
NO_OUTBOUND = ('evacuate', 'live-resize')
LIVE = 'live-migrate'
_M = models.Move
# Built once: read at every look for work (by the states' index, whatever
# the number of moves that ended: see move_types.UNFINISHED_STATES).
_UNFINISHED = sa.select(
    _M.id, _M.type, _M.state, _M.source_host, _M.dest_host, _M.admitted_at,
    _M.waiting, _M.abort_requested_by, _M.drain_id).where(
    _M.state.in_(move_types.UNFINISHED_STATES)).order_by(_M.created_at, _M.id)
_A = models.AdmissionLock.__table__
_LOCK = sa.select(_A.c.id).where(_A.c.id == LOCK_ID).with_for_update()
_ADMIT = sa.update(_M).where(_M.id.in_(sa.bindparam('ids', expanding=True))) \
    .values(admitted_at=sa.bindparam('now'), waiting=None)
_WAIT = sa.update(_M).where(_M.id.in_(sa.bindparam('ids', expanding=True))) \
    .values(waiting=sa.bindparam('why'))


def per_type_limits(conf):
    """``[limits] max_moves_per_type`` as {type: int}; a typed error for
    an unknown type or a count that is not a whole number >= 0."""
    limits = {}
    for name, value in (conf.limits.max_moves_per_type or {}).items():
        try:
            move_types.get(name)
        except exception.UnknownMoveType:
            raise exception.InvalidParameter(
                name='[limits] max_moves_per_type',
                reason='unknown move type %r' % name)
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = -1
        if count < 0:
            raise exception.InvalidParameter(
                name='[limits] max_moves_per_type',
                reason='%s: %r is not a whole number >= 0' % (name, value))
        limits[name] = count
    return limits


class Counts:
    """Slots held, by resource, and the first limit a move would exceed."""

    def __init__(self, conf, per_type):
        self.conf = conf
        self.per_type = per_type
        self.held = {}

    @staticmethod
    def resources(move):
        keys = [('all',), ('type', move.type), ('in', move.dest_host)]
        if move.type not in NO_OUTBOUND:
            keys.append(('out', move.source_host))
            if move.type == LIVE:
                keys.append(('out-live', move.source_host))
        return keys

    def take(self, move):
        for key in self.resources(move):
            self.held[key] = self.held.get(key, 0) + 1

    def _checks(self, move):
        c = self.conf
        if move.type not in NO_OUTBOUND:
            if move.type == LIVE:
                yield (('out-live', move.source_host),
                       c.max_outbound_live_per_host,
                       '%s has %%d of %%d outbound live migrations'
                       % move.source_host)
            yield (('out', move.source_host), c.max_outbound_per_host,
                   '%s has %%d of %%d outbound moves' % move.source_host)
        yield (('in', move.dest_host), c.max_inbound_per_host,
               '%s has %%d of %%d inbound moves' % move.dest_host)
        yield (('type', move.type), self.per_type.get(move.type, 0),
               '%%d of %%d %s moves run' % move.type)
        yield (('all',), c.max_moves, '%d of %d moves run in the cloud')

    def blocked(self, move):
        """Why the move must wait, or None."""
        for key, limit, text in self._checks(move):
            held = self.held.get(key, 0)
            if limit and held >= limit:
                return text % (held, limit)
        return None


class Admission:
    def __init__(self, db, conf):
        self.db = db
        self.conf = conf
        self.per_type = per_type_limits(conf)

    @staticmethod
    def _lock(conn):
        if conn.execute(_LOCK).first() is None:
            # A schema made without the migration's row.
            conn.execute(_A.insert().values(id=LOCK_ID))

    def runnable(self):
        """Admit what the limits allow now; the ids of every unfinished
        move that may run, oldest first.

        Besides the admitted ones, a waiting move whose abort was asked
        runs without a slot: it only records its revert. Only the columns
        admission needs are read, and the changes are a few UPDATEs.
        """
        # Most looks change nothing (every waiting move still blocked for
        # the same reason): answered from a read that takes no lock and
        # commits nothing. Only a look with something to write locks.
        with self.db.read() as s:
            decision = self._decide(s)
        if not any(decision[1:]):
            return decision[0]
        with self.db.write() as conn:
            self._lock(conn)
            run, admitted, unslotted, reasons = self._decide(conn)
            # After the read: later than the end of every move it saw end.
            if admitted or unslotted:
                conn.execute(_ADMIT, {'ids': admitted + unslotted,
                                      'now': models.utcnow()})
            for reason, ids in reasons.items():
                conn.execute(_WAIT, {'ids': ids, 'why': reason})
        for move_id in admitted:
            LOG.info('Move %s admitted', move_id)
        return run

    def _decide(self, s):
        """(moves that may run, oldest first; to admit; running without a
        slot; {new waiting reason: moves}) from the records."""
        counts = Counts(self.conf.limits, self.per_type)
        run, admitted, unslotted, reasons = [], [], [], {}
        moves = s.execute(_UNFINISHED).all()
        waiting = []
        for move in moves:
            if move.admitted_at is None and \
                    move.state == states.ACCEPTED:
                waiting.append(move)
                continue
            if move.admitted_at is None:
                # Past accepted without a slot: started before limits
                # existed, or resumed by an operator. It runs.
                unslotted.append(move.id)
            counts.take(move)
            run.append(move.id)
        drain_states = self._drain_states(s, waiting)
        for move in waiting:
            if move.abort_requested_by:
                run.append(move.id)
                continue
            reason = self._drain_hold(move, drain_states) or \
                counts.blocked(move)
            if reason is None:
                counts.take(move)
                run.append(move.id)
                admitted.append(move.id)
            elif move.waiting != reason:
                reasons.setdefault(reason, []).append(move.id)
        order = {move.id: n for n, move in enumerate(moves)}
        return sorted(run, key=order.get), admitted, unslotted, reasons

    @staticmethod
    def _drain_states(session, waiting):
        ids = {m.drain_id for m in waiting if m.drain_id}
        if not ids:
            return {}
        return dict(session.execute(
            sa.select(models.Drain.id, models.Drain.state).where(
                models.Drain.id.in_(ids))).all())

    @staticmethod
    def _drain_hold(move, drain_states):
        """A child of a drain that is not draining waits for its drain."""
        if move.drain_id is None:
            return None
        state = drain_states.get(move.drain_id)
        if state in (None, states.DRAINING):
            return None
        return 'drain %s is %s' % (move.drain_id, state)
