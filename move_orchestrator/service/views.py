"""What a caller may see of a task.

An instance's owner follows its move: states, history, steps, timing and
progress. Where it ran (host names), tracebacks and internal error text are
the cloud's, as Nova shows instance-action tracebacks and hosts only to
administrators. The owner's view is built from a list of what it may see,
so a field added to the document later stays hidden until it is listed.
"""

OWNER_TASK = ('id', 'instance', 'type', 'state', 'flavors',
              'point_of_no_return', 'failed_step', 'admitted', 'drain',
              'created', 'updated',
              'finished', 'user_id', 'project_id')
OWNER_REQUEST = ('instance', 'flavor', 'live', 'request_id')
OWNER_HISTORY = ('state', 'at', 'user_id', 'project_id')
OWNER_ACTION = ('action', 'result', 'at', 'user_id', 'project_id')
OWNER_SUBTASK = ('name', 'phase', 'state', 'started', 'finished',
                 'progress', 'attempts', 'history')
OWNER_EVENT = ('id', 'kind', 'name', 'phase', 'state', 'progress', 'at',
               'user_id', 'project_id')


def _pick(doc, keys):
    return {k: doc[k] for k in keys if k in doc}


def _error_type(error):
    return {'type': error['type']} if error else None


def owner_task(doc):
    view = _pick(doc, OWNER_TASK)
    view['request'] = _pick(doc.get('request') or {}, OWNER_REQUEST)
    view['history'] = [_pick(h, OWNER_HISTORY) for h in doc['history']]
    view['actions'] = [_pick(a, OWNER_ACTION) for a in doc['actions']]
    view['subtasks'] = [dict(_pick(s, OWNER_SUBTASK),
                             error=_error_type(s['error']))
                        for s in doc['subtasks']]
    return view


def owner_event(event):
    return dict(_pick(event, OWNER_EVENT), error=_error_type(event['error']))
