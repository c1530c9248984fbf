"""Task documents: what the compute API serves at
``GET /servers/<uuid>/tasks/<uuid>``, built from the move and its history.
"""

import datetime


SUBTASK_DONE = ('SUCCESS', 'FAILURE', 'REVERTED', 'REVERT_FAILURE')


def _ts(value):
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
        when = _ts(e['created_at'])
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
    history = [{'state': e['state'], 'at': _ts(e['created_at']),
                'reason': (e['detail'] or {}).get('reason'),
                'user_id': e['user_id'], 'project_id': e['project_id']}
               for e in events if e['kind'] == 'move']
    actions = [{'action': e['name'], 'result': e['state'],
                'at': _ts(e['created_at']), 'detail': e['detail'],
                'user_id': e['user_id'], 'project_id': e['project_id']}
               for e in events if e['kind'] == 'action']
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
        'created': _ts(move['created_at']),
        'updated': _ts(move['updated_at']),
        'finished': _ts(move['finished_at']),
        'user_id': move['user_id'],
        'project_id': move['project_id'],
        'history': history,
        'actions': actions,
        'subtasks': build_subtasks(events),
    }


class TaskRecords:
    """Read side of the task records."""

    def __init__(self, store):
        self.store = store

    def get_task(self, task_id):
        move = self.store.get(task_id)
        return build_document(move, self.store.events(task_id))

    def list_tasks(self, instance=None, state=None, limit=None, marker=None):
        moves = self.store.list(instance_uuid=instance, state=state,
                                limit=limit, marker=marker)
        events = self.store.events_of([m['id'] for m in moves])
        return [build_document(m, events[m['id']]) for m in moves]
