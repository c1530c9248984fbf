"""Drain documents: the drain, its progress and each child's state, in
the shape of a task document so that task list and task show take both.
"""

from move_orchestrator.records import tasks as task_docs
from move_orchestrator import states

CHILD_FIELDS = (('id', 'id'), ('instance', 'instance_uuid'), ('type', 'type'),
                ('state', 'state'), ('destination', 'dest_host'),
                ('point_of_no_return', 'ponr'), ('waiting', 'waiting'),
                ('reason', 'reason'))


def _child(move):
    doc = {key: move[field] for key, field in CHILD_FIELDS}
    if move['admitted_at'] is not None:
        doc['waiting'] = None
    return doc


def moved_elsewhere(events):
    """The reverted children whose instance another move took off the
    host: {'instance', 'child', 'host'} each."""
    return [{key: e['detail'].get(key) for key in ('instance', 'child',
                                                   'host')}
            for e in events if e['kind'] == 'child' and
            e['name'] == 'moved-elsewhere']


def progress(drain, children, elsewhere=()):
    """Counts over each instance's newest child (a retry supersedes);
    ``elsewhere``: the ids of the children counted as moved elsewhere."""
    latest = {}
    for child in children:
        latest[child['instance_uuid']] = child
    counts = {'total': drain['total'], 'completed': 0, 'running': 0,
              'waiting': 0, 'reverted': 0, 'failed': 0,
              'refused': len(drain['refused'] or {}), 'moved_elsewhere': 0}
    for child in latest.values():
        if child['id'] in elsewhere:
            counts['moved_elsewhere'] += 1
        elif child['state'] == states.COMPLETED:
            counts['completed'] += 1
        elif child['state'] in (states.REVERTED, states.FAILED):
            counts[child['state']] += 1
        elif child['admitted_at'] is None:
            counts['waiting'] += 1
        else:
            counts['running'] += 1
    counts['not_started'] = max(0, drain['total'] - len(latest)
                                - counts['refused'])
    return counts


def build_document(drain, events, children):
    ts = task_docs.timestamp
    elsewhere = moved_elsewhere(events)
    return {
        'id': drain['id'],
        'type': 'drain',
        'state': drain['state'],
        'host': drain['host'],
        'evacuate': drain['evacuate'],
        'instance': None,
        'source': drain['host'],
        'destination': None,
        'flavors': {'old': None, 'new': None},
        'request': {'host': drain['host'], 'live': drain['live']},
        'point_of_no_return': False,
        'reason': drain['reason'],
        'failed_step': None,
        'waiting': drain['waiting'] if drain['state'] == states.DRAINING
        else None,
        'admitted': None,
        'drain': None,
        'created': ts(drain['created_at']),
        'updated': ts(drain['updated_at']),
        'finished': ts(drain['finished_at']),
        'user_id': drain['user_id'],
        'project_id': drain['project_id'],
        'history': [{'state': e['state'], 'at': ts(e['created_at']),
                     'reason': (e['detail'] or {}).get('reason'),
                     'user_id': e['user_id'], 'project_id': e['project_id']}
                    for e in events if e['kind'] == 'drain'],
        'actions': [{'action': e['name'], 'result': e['state'],
                     'at': ts(e['created_at']), 'detail': e['detail'],
                     'user_id': e['user_id'], 'project_id': e['project_id']}
                    for e in events if e['kind'] == 'action'],
        'subtasks': [],
        'progress': progress(drain, children,
                             {e['child'] for e in elsewhere}),
        'children': [_child(c) for c in children],
        'refused': [{'instance': i, 'error': why} for i, why in
                    sorted((drain['refused'] or {}).items())],
        'moved_elsewhere': elsewhere,
    }
