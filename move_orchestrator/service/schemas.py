"""JSON Schemas of every operation's parameters and answers.

One definition per request body: the service validates the parameters of
an operation with ``PARAMS[name]`` whoever calls it (REST, RPC, CLI), and
the REST API publishes these same schemas in its OpenAPI document. The
answers' schemas (``RESPONSES``) are what the tests and the fuzzer check
every response against.
"""

import copy

MAX_ID = 255
MAX_LIMIT = 1000
MAX_WAIT = 30
HOST_STATES = ('up', 'down', 'disabled')

# A name or id: a non-empty string, not only blanks.
ID = {'type': 'string', 'minLength': 1, 'maxLength': MAX_ID,
      'pattern': r'\S'}
STATE = {'type': 'string', 'minLength': 1, 'maxLength': 64,
         'pattern': r'\S'}


def nullable(schema):
    """The same, or null (keywords of a type apply to that type only)."""
    return dict(schema, type=[schema['type'], 'null'])


def params(properties, required=()):
    return {'type': 'object', 'properties': properties,
            'required': list(required), 'additionalProperties': False}


TASK_REF = {'task_id': ID, 'instance': nullable(ID)}

PARAMS = {
    'move_instance': params({
        'instance': ID, 'destination': nullable(ID), 'flavor': nullable(ID),
        'live': {'type': ['boolean', 'null']},
        'request_id': nullable(ID)}, required=['instance']),
    'get_task': params(TASK_REF, required=['task_id']),
    'list_tasks': params({
        'instance': nullable(ID), 'state': nullable(STATE),
        'type': nullable(STATE), 'host': nullable(ID),
        'limit': nullable({'type': 'integer', 'minimum': 1,
                           'maximum': MAX_LIMIT}),
        'marker': nullable(ID)}),
    'list_task_events': params(dict(TASK_REF, **{
        'since': nullable({'type': 'integer', 'minimum': 0}),
        'wait': nullable({'type': 'number', 'minimum': 0,
                          'maximum': MAX_WAIT})}), required=['task_id']),
    'abort_task': params(TASK_REF, required=['task_id']),
    'resume_task': params(TASK_REF, required=['task_id']),
    'revert_task': params(TASK_REF, required=['task_id']),
    'force_complete': params(TASK_REF, required=['task_id']),
    'pause_task': params(TASK_REF, required=['task_id']),
    'drain_host': params({'host': ID, 'live': {'type': ['boolean', 'null']}},
                         required=['host']),
    'list_hosts': params({}),
    'get_host': params({'host': ID}, required=['host']),
    'set_host_state': params({'host': ID,
                              'state': {'type': 'string',
                                        'enum': list(HOST_STATES)}},
                             required=['host', 'state']),
    'list_instances': params({'host': nullable(ID)}),
    'list_flavors': params({}),
    'audit': params({}),
}

# -- answers -------------------------------------------------------------------
STR = {'type': 'string'}
OPT_STR = {'type': ['string', 'null']}
TIME = {'type': ['string', 'null'], 'format': 'date-time'}
ACTOR = {'user_id': OPT_STR, 'project_id': OPT_STR}


def obj(properties, optional=()):
    return {'type': 'object', 'properties': properties,
            'required': [k for k in properties if k not in optional],
            'additionalProperties': False}


ERROR_DOC = {'type': 'object', 'properties': {'type': STR},
             'required': ['type']}

SUBTASK = obj({
    'name': STR, 'phase': OPT_STR, 'state': OPT_STR,
    'started': TIME, 'finished': TIME,
    'progress': {'type': ['number', 'null']},
    'attempts': {'type': 'integer'},
    'error': nullable(ERROR_DOC),
    'result': {},
    'history': {'type': 'array', 'items': obj({'state': STR, 'at': TIME})},
}, optional=('result',))

# Keys an instance owner does not see (views.owner_task).
ADMIN_ONLY = ('source', 'destination', 'reason', 'waiting', 'conductor',
              'claims')
# Keys of a drain's document only (records/drains.py).
DRAIN_ONLY = ('host', 'evacuate', 'progress', 'children', 'refused',
              'moved_elsewhere')

TASK = obj({
    'id': STR, 'instance': OPT_STR, 'type': STR, 'state': STR,
    'source': OPT_STR, 'destination': OPT_STR,
    'flavors': obj({'old': OPT_STR, 'new': OPT_STR}),
    'request': {'type': 'object'},
    'point_of_no_return': {'type': ['boolean', 'null']},
    'reason': OPT_STR, 'failed_step': OPT_STR,
    'waiting': OPT_STR, 'admitted': TIME, 'drain': OPT_STR,
    'host': STR, 'evacuate': {'type': ['boolean', 'null']}, 'progress': {},
    'children': {'type': 'array'}, 'refused': {'type': 'array'},
    'moved_elsewhere': {'type': 'array', 'items': obj(
        {'instance': STR, 'child': STR, 'host': OPT_STR})},
    'created': TIME, 'updated': TIME, 'finished': TIME,
    **ACTOR,
    'history': {'type': 'array', 'items': obj(dict(
        {'state': STR, 'at': TIME, 'reason': OPT_STR}, **ACTOR),
        optional=('reason',))},
    'actions': {'type': 'array', 'items': obj(dict(
        {'action': STR, 'result': OPT_STR, 'at': TIME, 'detail': {}},
        **ACTOR), optional=('detail',))},
    'subtasks': {'type': 'array', 'items': SUBTASK},
    # Each run of a move under a claim: which conductor, the attempt,
    # whom it took the move over from (conductor/claims.py, jobclaim.py).
    'conductor': OPT_STR,
    'claims': {'type': 'array', 'items': obj({
        'conductor': STR, 'at': TIME,
        'attempt': {'type': ['integer', 'null']},
        'taken_over_from': OPT_STR})},
}, optional=ADMIN_ONLY + DRAIN_ONLY)

EVENT = obj(dict({
    'id': {'type': 'integer'}, 'kind': STR, 'name': OPT_STR,
    'phase': OPT_STR, 'state': OPT_STR,
    'progress': {'type': ['number', 'null']}, 'at': TIME,
    'error': nullable(ERROR_DOC),
    'detail': {}}, **ACTOR), optional=('detail',))

HOST = obj({
    'name': STR, 'state': {'type': 'string', 'enum': list(HOST_STATES)},
    'vcpus': {'type': 'integer'}, 'ram_mb': {'type': 'integer'},
    'disk_gb': {'type': 'integer'}, 'cpu_model': OPT_STR,
    'storage_group': OPT_STR,
    'used': obj({'vcpus': {'type': 'integer'},
                 'ram_mb': {'type': 'integer'},
                 'disk_gb': {'type': 'integer'}}),
}, optional=('used',))

INSTANCE = obj({
    'uuid': STR, 'name': STR, 'host': OPT_STR, 'flavor': OPT_STR,
    'image': OPT_STR, 'power_state': OPT_STR, 'vm_state': OPT_STR,
    'move_id': OPT_STR, 'project_id': OPT_STR, 'user_id': OPT_STR})

FLAVOR = obj({'name': STR, 'vcpus': {'type': 'integer'},
              'ram_mb': {'type': 'integer'},
              'disk_gb': {'type': 'integer'}})

PROBLEM = obj({'instance': OPT_STR, 'move': OPT_STR, 'problem': STR})


def array(items):
    return {'type': 'array', 'items': items}


RESPONSES = {
    'move_instance': TASK, 'get_task': TASK, 'list_tasks': array(TASK),
    'list_task_events': array(EVENT),
    'abort_task': TASK, 'resume_task': TASK, 'revert_task': TASK,
    'force_complete': TASK, 'pause_task': TASK, 'drain_host': TASK,
    'list_hosts': array(HOST), 'get_host': HOST, 'set_host_state': HOST,
    'list_instances': array(INSTANCE), 'list_flavors': array(FLAVOR),
    'audit': array(PROBLEM),
}


def schema(name):
    """A copy, for callers that build on it (the OpenAPI document)."""
    return copy.deepcopy(PARAMS[name])
