"""Task documents: what the compute API serves at
``GET /servers/<uuid>/tasks/<uuid>``, built from the move and its history.
"""

import datetime
import time

from move_orchestrator.db import outage
from move_orchestrator import exception
from move_orchestrator import states


SUBTASK_DONE = ('SUCCESS', 'FAILURE', 'REVERTED', 'REVERT_FAILURE')


def timestamp(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=datetime.timezone.utc).isoformat()
    return value


def build_subtasks(events):
    """One entry per atom, in the order they first ran."""
    subtasks = {}
    for e in events:
        if e['kind'] != 'subtask':
            continue
        sub = subtasks.setdefault(e['name'], {
            'name': e['name'], 'phase': e['phase'], 'state': None,
            'started': None, 'finished': None, 'progress': 0.0,
            'attempts': 0, 'error': None, 'result': None, 'history': []})
        when = timestamp(e['created_at'])
        if e['state'] == 'PROGRESS':
            sub['progress'] = e['progress']
            continue
        sub['history'].append({'state': e['state'], 'at': when})
        sub['state'] = e['state']
        if e['state'] == 'RUNNING':
            sub['attempts'] += 1
            sub['started'] = sub['started'] or when
            sub['finished'] = None
        elif e['state'] in SUBTASK_DONE:
            sub['finished'] = when
        if e['state'] == 'SUCCESS':
            sub['progress'] = 1.0
            sub['result'] = (e['detail'] or {}).get('result')
        if e['error']:
            sub['error'] = e['error']
    return [s for s in subtasks.values() if s['history']]


def build_document(move, events):
    history = [{'state': e['state'], 'at': timestamp(e['created_at']),
                'reason': (e['detail'] or {}).get('reason'),
                'user_id': e['user_id'], 'project_id': e['project_id']}
               for e in events if e['kind'] == 'move']
    actions = [{'action': e['name'], 'result': e['state'],
                'at': timestamp(e['created_at']), 'detail': e['detail'],
                'user_id': e['user_id'], 'project_id': e['project_id']}
               for e in events if e['kind'] == 'action']
    # Each run of the move under a claim of its own: which conductor, the
    # attempt (the claim's fencing token), and whom it took the move from.
    claims = [{'conductor': e['name'], 'at': timestamp(e['created_at']),
               'attempt': (e['detail'] or {}).get('attempt'),
               'taken_over_from': (e['detail'] or {}).get('taken_over_from')}
              for e in events if e['kind'] == 'claim']
    return {
        'id': move['id'],
        'instance': move['instance_uuid'],
        'type': move['type'],
        'state': move['state'],
        'source': move['source_host'],
        'destination': move['dest_host'],
        'flavors': {'old': move['old_flavor'], 'new': move['new_flavor']},
        'request': move['request'],
        'point_of_no_return': move['ponr'],
        'reason': move['reason'],
        'failed_step': move['failed_step'],
        # Set while the move waits in "accepted" for a slot within the
        # limits: what it waits for.
        'waiting': move['waiting'] if move['admitted_at'] is None else None,
        'admitted': timestamp(move['admitted_at']),
        'drain': move['drain_id'],
        'created': timestamp(move['created_at']),
        'updated': timestamp(move['updated_at']),
        'finished': timestamp(move['finished_at']),
        'user_id': move['user_id'],
        'project_id': move['project_id'],
        'history': history,
        'actions': actions,
        'conductor': move.get('conductor'),
        'claims': claims,
        'subtasks': build_subtasks(events),
    }


def build_event(e):
    """One event of a task, as a client following it live reads it."""
    return {'id': e['id'], 'kind': e['kind'], 'name': e['name'],
            'phase': e['phase'], 'state': e['state'],
            'progress': e['progress'], 'at': timestamp(e['created_at']),
            'error': e['error'], 'detail': e['detail'],
            'user_id': e['user_id'], 'project_id': e['project_id']}


def with_outage(doc):
    """An unfinished move of a process whose moves wait for the database
    says so in ``waiting`` (db/outage.py)."""
    waits = outage.current()
    if waits is None or doc['state'] in states.TERMINAL_STATES or doc['waiting']:
        return doc
    cause, since = waits
    doc['waiting'] = ('the database is unavailable (%s) since %s: the move '
                      'carries on when it is back' % (
                          cause, time.strftime('%H:%M:%S',
                                               time.gmtime(since))))
    return doc


class TaskRecords:
    """Read side of the task records: moves and drains."""

    def __init__(self, store, drains=None):
        self.store = store
        self.drains = drains

    def get_task(self, task_id):
        try:
            move = self.store.get(task_id)
        except exception.TaskNotFound:
            if self.drains is None:
                raise
            return self._drain_document(self.drains.get(task_id))
        return self.document(move)

    def document(self, move):
        """The task document of a move record the caller has just read
        (its history is read now)."""
        return with_outage(build_document(move, self.store.events(move['id'])))

    def _drain_document(self, drain):
        from move_orchestrator.records import drains as drain_docs
        return drain_docs.build_document(
            drain, self.drains.events_of([drain['id']])[drain['id']],
            self.drains.children(drain['id']))

    def _position(self, marker):
        """(created_at, id) of the task a page ended with."""
        try:
            task = self.store.get(marker)
        except exception.TaskNotFound:
            if self.drains is None:
                raise
            task = self.drains.get(marker)
        return task['created_at'], task['id']

    def list_tasks(self, instance=None, state=None, limit=None, marker=None,
                   move_type=None, host=None):
        """Moves and drains, newest first (drains have no instance; the
        host filter is either end of a move)."""
        before = None if marker is None else self._position(marker)
        moves = [] if move_type == 'drain' else self.store.list(
            instance_uuid=instance, state=state, limit=limit, before=before,
            move_type=move_type, host=host)
        with_drains = instance is None and host is None and \
            move_type in (None, 'drain') and self.drains is not None
        drains = self.drains.list(state=state, limit=limit, before=before) \
            if with_drains else []
        tasks = sorted([('move', m) for m in moves] +
                       [('drain', d) for d in drains],
                       key=lambda t: (t[1]['created_at'], t[1]['id']),
                       reverse=True)[:limit]
        events = self.store.events_of([t['id'] for kind, t in tasks
                                       if kind == 'move'])
        return [build_document(t, events[t['id']]) if kind == 'move'
                else self._drain_document(t) for kind, t in tasks]

    def list_events(self, task_id, since=None):
        """A task's events after the event id ``since`` (a drain's too)."""
        try:
            self.store.get(task_id)
        except exception.TaskNotFound:
            if self.drains is None:
                raise
            self.drains.get(task_id)
            events = self.drains.events_of([task_id])[task_id]
            return [build_event(dict({'phase': None, 'progress': None,
                                      'error': None}, **e))
                    for e in events if since is None or e['id'] > since]
        return [build_event(e) for e in self.store.events(task_id, since)]
