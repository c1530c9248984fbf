"""Drain records, their history, and their children's records."""

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.db import moves as db_moves
from move_orchestrator import exception
from move_orchestrator import states

DRAIN_FIELDS = ('id', 'host', 'state', 'live', 'evacuate', 'total',
                'refused', 'reason', 'waiting', 'abort_requested_by',
                'user_id',
                'project_id', 'created_at', 'updated_at', 'finished_at')
# A child as the conductors' watch sees it (not its request, parameters
# or reason: the watch reads every drain's children several times a second).
CHILD_FIELDS = ('id', 'drain_id', 'instance_uuid', 'state', 'admitted_at',
                'ponr', 'abort_requested_by')
EVENT_FIELDS = ('id', 'kind', 'name', 'state', 'detail', 'user_id',
                'project_id', 'created_at')

# The conductors' watch reads the unfinished drains, their children and
# their hosts' instances several times a second: rows, not ORM objects
# (as db/moves.py).
_DRAINS = models.Drain.__table__
_MOVES = models.Move.__table__


def drain_to_dict(row):
    return {f: getattr(row, f) for f in DRAIN_FIELDS}


def _event(drain_id, kind, name, state, detail=None, context=None):
    return models.DrainEvent(
        drain_id=drain_id, kind=kind, name=name, state=state, detail=detail,
        user_id=getattr(context, 'user_id', None),
        project_id=getattr(context, 'project_id', None))


class DrainStore:
    def __init__(self, db, unfinished_states):
        """``unfinished_states``: every state of a drain that has not
        ended (``moves.drain.UNFINISHED``), asked for by the state's index."""
        self.db = db
        self._unfinished_states = unfinished_states
        self._unfinished = sa.select(_DRAINS).where(
            _DRAINS.c.state.in_(unfinished_states)).order_by(
            _DRAINS.c.created_at)

    def create(self, values, context=None):
        """A new drain, ``accepted``; refused while another drain of the
        host is unfinished."""
        with self.db.session() as s:
            # The host row's lock orders two drains of one host.
            s.scalars(sa.select(models.Host).filter_by(
                name=values['host']).with_for_update()).first()
            other = s.scalars(sa.select(models.Drain).where(
                models.Drain.host == values['host'],
                models.Drain.state.in_(self._unfinished_states))).first()
            if other is not None:
                raise exception.HostBusy(host=values['host'], task=other.id)
            s.add(models.Drain(state=states.ACCEPTED,
                               user_id=getattr(context, 'user_id', None),
                               project_id=getattr(context, 'project_id',
                                                  None),
                               **values))
            s.flush()
            s.add(_event(values['id'], 'drain', 'drain', states.ACCEPTED,
                         detail={'host': values['host'],
                                 'live': values.get('live')},
                         context=context))
        return self.get(values['id'])

    def get(self, drain_id):
        with self.db.read() as s:
            row = s.execute(sa.select(_DRAINS).where(
                _DRAINS.c.id == drain_id)).first()
            if row is None:
                raise exception.TaskNotFound(task=drain_id)
            return drain_to_dict(row)

    def exists(self, drain_id):
        with self.db.reader() as s:
            return s.get(models.Drain, drain_id) is not None

    def list(self, state=None, limit=None, before=None):
        """Newest first; ``before`` = (created_at, id) of a page's last."""
        with self.db.reader() as s:
            q = sa.select(models.Drain).order_by(
                models.Drain.created_at.desc(), models.Drain.id.desc())
            if state is not None:
                q = q.filter_by(state=state)
            if before is not None:
                q = q.where(sa.or_(
                    models.Drain.created_at < before[0],
                    sa.and_(models.Drain.created_at == before[0],
                            models.Drain.id < before[1])))
            if limit is not None:
                q = q.limit(limit)
            return [drain_to_dict(d) for d in s.scalars(q)]

    def list_unfinished(self):
        with self.db.read() as s:
            return [drain_to_dict(d) for d in s.execute(self._unfinished)]

    def transition(self, drain_id, event, next_state, context=None,
                   reason=None, **values):
        """Apply ``event`` and record it, in one transaction with the
        drain's row locked. ``next_state(drain_id, state, event)`` is the
        machine's (moves/drain.py): it refuses an unlisted transition.
        Returns the drain as it was before."""
        with self.db.session() as s:
            row = s.scalars(sa.select(models.Drain).filter_by(
                id=drain_id).with_for_update()).first()
            if row is None:
                raise exception.TaskNotFound(task=drain_id)
            before = drain_to_dict(row)
            target = next_state(drain_id, row.state, event)
            row.state = target
            if reason is not None:
                row.reason = reason
            for key, value in values.items():
                setattr(row, key, value)
            if target in states.TERMINAL_STATES:
                row.finished_at = models.utcnow()
            detail = {'from': before['state'], 'event': event}
            if reason:
                detail['reason'] = reason
            s.add(_event(drain_id, 'drain', 'drain', target, detail=detail,
                         context=context))
            return before

    def update(self, drain_id, **values):
        with self.db.session() as s:
            s.execute(sa.update(models.Drain).filter_by(id=drain_id).values(
                **values))

    def add_event(self, drain_id, kind, name, state, detail=None,
                  context=None):
        with self.db.session() as s:
            s.add(_event(drain_id, kind, name, state, detail, context))

    def events_of(self, drain_ids):
        found = {drain_id: [] for drain_id in drain_ids}
        if not found:
            return found
        with self.db.reader() as s:
            for e in s.scalars(
                    sa.select(models.DrainEvent)
                    .where(models.DrainEvent.drain_id.in_(list(found)))
                    .order_by(models.DrainEvent.id)):
                found[e.drain_id].append({f: getattr(e, f)
                                          for f in EVENT_FIELDS})
        return found

    def children_of(self, drain_ids):
        """{drain id: its children, oldest first} in one query, with only
        what the conductors' watch decides on (CHILD_FIELDS)."""
        found = {drain_id: [] for drain_id in drain_ids}
        if not found:
            return found
        with self.db.reader() as s:
            for row in s.execute(
                    sa.select(*[_MOVES.c[f] for f in CHILD_FIELDS])
                    .where(_MOVES.c.drain_id.in_(list(found)))
                    .order_by(_MOVES.c.created_at, _MOVES.c.id)):
                found[row.drain_id].append(dict(row._mapping))
        return found

    def children(self, drain_id):
        """The drain's moves, oldest first (retries after the tries)."""
        with self.db.reader() as s:
            return [db_moves.move_to_dict(m) for m in s.execute(
                sa.select(_MOVES).where(_MOVES.c.drain_id == drain_id)
                .order_by(_MOVES.c.created_at, _MOVES.c.id))]
