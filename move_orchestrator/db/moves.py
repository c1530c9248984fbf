"""Move records and their append-only history of events."""

import contextlib

import sqlalchemy as sa

from move_orchestrator.db import fencing
from move_orchestrator.db import outage
from move_orchestrator.db import models
from move_orchestrator import exception
from move_orchestrator.states import COMPLETED, REVERTED, TERMINAL_STATES

MOVE_FIELDS = ('id', 'instance_uuid', 'type', 'state', 'source_host',
               'dest_host', 'old_flavor', 'new_flavor', 'live', 'request_id',
               'request', 'params', 'ponr', 'reason', 'failed_step',
               'abort_requested_by', 'user_id',
               'project_id', 'created_at', 'updated_at', 'finished_at',
               'admitted_at', 'waiting', 'drain_id', 'generation',
               'conductor')
EVENT_FIELDS = ('id', 'kind', 'name', 'phase', 'state', 'progress', 'error',
                'detail', 'user_id', 'project_id', 'created_at')


# Reads select rows, not ORM objects: a move is read several times per step,
# and building an object (identity map, instrumentation) costs more than the
# query.
_MOVES = models.Move.__table__
_EVENTS = models.MoveEvent.__table__
# Writes of a move's state go through Core too (an ORM unit of work cost a
# step's start more than its statements did), with statements built once:
# building one costs more than running it.
_READ = sa.select(_MOVES).where(_MOVES.c.id == sa.bindparam('move_id'))
_READ_FOR_UPDATE = _READ.with_for_update()
_BY_REQUEST_ID = sa.select(_MOVES).where(
    _MOVES.c.request_id == sa.bindparam('request_id'))
# The values to set are the parameters' other keys.
_UPDATE = _MOVES.update().where(_MOVES.c.id == sa.bindparam('move_id'))
_EVENTS_OF = sa.select(_EVENTS).where(_EVENTS.c.move_id.in_(
    sa.bindparam('move_ids', expanding=True))).order_by(_EVENTS.c.id)
_INSERT = _MOVES.insert()
_INSERT_EVENT = _EVENTS.insert()


def move_to_dict(row):
    return {f: getattr(row, f) for f in MOVE_FIELDS}


def event_to_dict(row):
    return {f: getattr(row, f) for f in EVENT_FIELDS}


def insert_event(conn, move_id, kind, name, phase, state, detail=None,
                 context=None, progress=None, error=None):
    """Append an event to a move's history, in ``conn``'s transaction (the
    one row shape every writer of the history uses)."""
    conn.execute(_INSERT_EVENT, {
        'move_id': move_id, 'kind': kind, 'name': name, 'phase': phase,
        'state': state, 'progress': progress, 'error': error,
        'detail': detail, 'user_id': getattr(context, 'user_id', None),
        'project_id': getattr(context, 'project_id', None),
        'created_at': models.utcnow()})


class MoveStore:
    def __init__(self, db, inventory, unfinished_states, fences=None):
        """``unfinished_states``: every state of a move that has not ended
        (``moves.types.UNFINISHED_STATES``). The looks for work ask for
        ``state IN`` them, which the state's index answers from the few rows
        still running; ``NOT IN`` the terminal states would read every move
        ever made."""
        self.db = db
        self.inventory = inventory
        # The claims this process holds: its writes of those moves are
        # fenced (see db/fencing.py).
        self.fences = fences or fencing.Fences()
        self._unfinished = sa.select(_MOVES).where(
            _MOVES.c.state.in_(unfinished_states)).order_by(
            _MOVES.c.created_at)

    @outage.waited_out('a move record')
    def take_claim(self, move_id, conductor):
        """Claim the move for ``conductor``: its new fencing token, which
        this process then holds. The claim shows in the move's history."""
        with self._writing(None) as conn:
            token, previous, instance_uuid = fencing.take(conn, move_id,
                                                          conductor)
            detail = {'attempt': token}
            if previous and previous != conductor:
                detail['taken_over_from'] = previous
            insert_event(conn, move_id, 'claim', conductor, None,
                         'claimed', detail=detail)
        self.fences.hold(move_id, token, instance_uuid)
        return token

    def create(self, values, context=None):
        """Persist an accepted move and lock its instance, atomically.

        With a request_id already seen, returns (existing move, False).
        """
        with self.db.write() as conn:
            if values.get('request_id'):
                existing = conn.execute(_BY_REQUEST_ID, {
                    'request_id': values['request_id']}).first()
                if existing is not None:
                    return move_to_dict(existing), False
            self.inventory.lock_instance(conn, values['instance_uuid'],
                                         values['id'],
                                         host=values['source_host'])
            conn.execute(_INSERT, dict(values, state='accepted'))
            insert_event(conn, values['id'], 'move', 'move', None,
                         'accepted', context=context,
                         detail={'request': values['request']})
            move = conn.execute(_READ, {'move_id': values['id']}).first()
        return move_to_dict(move), True

    def find_by_request_id(self, request_id):
        with self.db.read() as s:
            move = s.execute(_BY_REQUEST_ID,
                             {'request_id': request_id}).first()
            return move_to_dict(move) if move else None

    @outage.waited_out('a move record')
    def get(self, move_id):
        with self.db.read() as s:
            move = s.execute(_READ, {'move_id': move_id}).first()
            if move is None:
                raise exception.TaskNotFound(task=move_id)
            return move_to_dict(move)

    def get_many(self, move_ids):
        """{id: move} of those that exist, in one read."""
        if not move_ids:
            return {}
        with self.db.read() as s:
            return {m.id: move_to_dict(m) for m in s.execute(
                sa.select(_MOVES).where(_MOVES.c.id.in_(list(move_ids))))}

    def list_in_other_states(self, known):
        """The moves in none of the states ``known`` (the audit's look for
        records no conductor runs: it reads every row, once)."""
        with self.db.read() as s:
            return [move_to_dict(m) for m in s.execute(
                sa.select(_MOVES).where(_MOVES.c.state.not_in(known)))]

    def list(self, instance_uuid=None, state=None, limit=None, marker=None,
             before=None, move_type=None, host=None):
        """Newest first; marker is the id of the last move of a page, or
        ``before`` its (created_at, id). ``host`` is either end."""
        with self.db.reader() as s:
            q = sa.select(models.Move).order_by(models.Move.created_at.desc(),
                                                models.Move.id.desc())
            if instance_uuid is not None:
                q = q.filter_by(instance_uuid=instance_uuid)
            if state is not None:
                q = q.filter_by(state=state)
            if move_type is not None:
                q = q.filter_by(type=move_type)
            if host is not None:
                q = q.where(sa.or_(models.Move.source_host == host,
                                   models.Move.dest_host == host))
            if marker is not None:
                last = s.get(models.Move, marker)
                if last is None:
                    raise exception.TaskNotFound(task=marker)
                q = q.where(sa.or_(
                    models.Move.created_at < last.created_at,
                    sa.and_(models.Move.created_at == last.created_at,
                            models.Move.id < last.id)))
            if before is not None:
                q = q.where(sa.or_(
                    models.Move.created_at < before[0],
                    sa.and_(models.Move.created_at == before[0],
                            models.Move.id < before[1])))
            if limit is not None:
                q = q.limit(limit)
            return [move_to_dict(m) for m in s.scalars(q)]

    @outage.waited_out('a move record')
    def list_unfinished(self, fields=None):
        """Oldest first; with ``fields``, only those (a conductor's look
        for work, several times a second, needs the ids alone)."""
        query = self._unfinished.with_only_columns(
            *[_MOVES.c[f] for f in fields]) if fields else self._unfinished
        with self.db.read() as s:
            rows = s.execute(query)
            if fields:
                return [dict(row._mapping) for row in rows]
            return [move_to_dict(m) for m in rows]

    def _set_state(self, move_id, decide, context=None, connection=None,
                   read_first=True, **values):
        """Record a move state change in one transaction.

        ``decide(move)`` sees the move as it was (a dict) and returns its new
        state, None to leave it (the values are still written), or raises to
        refuse. Returns (that dict, the new state or None). A move that ends
        ``completed`` or ``reverted`` releases its instance.

        With ``connection`` (a SQLAlchemy connection in a transaction, such
        as a persistence save hook's) the change is written through it and
        commits or rolls back with the caller's transaction. With no values
        and nothing to change, nothing is written (a read decides first,
        unless ``read_first`` is false: the caller expects a change).
        """
        if read_first and not values and connection is None:
            before = self.get(move_id)
            if decide(before) in (None, before['state']):
                # Nothing to write, but a lost claim still shows, as it
                # would have at the write (a generation only grows: an
                # unlocked read is enough to see it changed).
                self.fences.verify(move_id, before['generation'])
                return before, None
        with self._writing(connection) as conn:
            before = self._read_for_update(conn, move_id)
            state = decide(before)
            changes = dict(values)
            if state is not None and state != before['state']:
                changes['state'] = state
                if state in TERMINAL_STATES:
                    changes['finished_at'] = models.utcnow()
            else:
                state = None
            if changes:
                conn.execute(_UPDATE, dict(changes, move_id=move_id))
            if state is None:
                return before, None
            detail = {'from': before['state']}
            if values.get('reason'):
                detail['reason'] = values['reason']
            insert_event(conn, move_id, 'move', 'move', None, state,
                         detail=detail, context=context)
            if state in (COMPLETED, REVERTED):
                self.inventory.unlock_instance(conn, before['instance_uuid'],
                                               move_id)
            return before, state

    def set_state(self, move_id, decide, context=None, connection=None,
                  read_first=True, **values):
        if connection is not None:
            # Part of the caller's transaction: the caller retries it.
            return self._set_state(move_id, decide, context, connection,
                                   **values)
        return outage.call(self._set_state, move_id, decide, context,
                           read_first=read_first,
                           what='move %s' % move_id, **values)

    @contextlib.contextmanager
    def _writing(self, connection):
        """A Core connection in a write transaction: ``connection`` (the
        caller's, which commits it) or a new one committed here."""
        if connection is not None:
            yield connection
            return
        with self.db.write() as conn:
            yield conn

    def _read_for_update(self, conn, move_id):
        """The move, locked for the write, as a dict; its claim checked
        at the same read (db/fencing.py)."""
        row = conn.execute(_READ_FOR_UPDATE, {'move_id': move_id}).first()
        if row is None:
            raise exception.TaskNotFound(task=move_id)
        self.fences.verify(move_id, row.generation)
        return move_to_dict(row)

    def update(self, move_id, connection=None, **values):
        """Write values of the move (through ``connection``'s transaction,
        if given, as in :meth:`set_state`; the caller then retries it)."""
        if connection is not None:
            return self._update(move_id, connection, **values)
        return outage.call(self._update, move_id, None,
                           what='move %s' % move_id, **values)

    def _update(self, move_id, connection, **values):
        with self._writing(connection) as s:
            self.fences.check(s, move_id)
            s.execute(sa.update(models.Move).filter_by(id=move_id).values(
                **values))

    @outage.waited_out('a move record')
    def request_abort(self, move_id, who):
        """Ask for an abort unless the move is past its point of no return,
        in one statement (a check then a write would let the point of no
        return pass between them). True if recorded."""
        with self.db.session() as s:
            self.fences.check(s, move_id)
            done = s.execute(sa.update(models.Move).where(
                models.Move.id == move_id,
                models.Move.ponr == sa.false()).values(
                abort_requested_by=who)).rowcount
        return bool(done)

    def pass_ponr(self, move_id, why=None, connection=None):
        """Record that the move passed its point of no return.

        An abort asked a moment before (it found the flag unset) is too
        late now: it is recorded as refused and cleared, in the same
        transaction, so that nothing reverts the move afterwards. With
        ``connection``, part of the caller's transaction (which it retries).
        """
        if connection is not None:
            return self._pass_ponr(move_id, why, connection)
        return outage.call(self._pass_ponr, move_id, why, None,
                           what='move %s' % move_id)

    def _pass_ponr(self, move_id, why, connection):
        with self._writing(connection) as conn:
            move = self._read_for_update(conn, move_id)
            changes = {'ponr': True}
            if move['abort_requested_by']:
                insert_event(
                    conn, move_id, 'action', 'abort', None, 'refused',
                    detail={'requested_by': move['abort_requested_by'],
                            'reason': why or 'too late: the move passed its '
                                             'point of no return'})
                changes['abort_requested_by'] = None
            conn.execute(_UPDATE, dict(changes, move_id=move_id))

    @outage.waited_out('a move record')
    def add_event(self, move_id, kind, name, state, phase=None,
                  progress=None, error=None, detail=None, context=None):
        with self._writing(None) as conn:
            self.fences.check(conn, move_id)
            insert_event(conn, move_id, kind, name, phase, state, detail,
                         context, progress, error)

    @outage.waited_out('a move record')
    def events(self, move_id, since=None):
        """The move's events in order; after the event id ``since``."""
        if since is None:
            return self.events_of([move_id])[move_id]
        with self.db.read() as s:
            return [event_to_dict(e) for e in s.execute(
                sa.select(_EVENTS)
                .where(_EVENTS.c.move_id == move_id, _EVENTS.c.id > since)
                .order_by(_EVENTS.c.id))]

    @outage.waited_out('a move record')
    def events_of(self, move_ids):
        """The histories of several moves in one query: {move id: events}."""
        found = {move_id: [] for move_id in move_ids}
        if not found:
            return found
        with self.db.read() as s:
            for e in s.execute(_EVENTS_OF, {'move_ids': list(found)}):
                found[e.move_id].append(event_to_dict(e))
        return found
