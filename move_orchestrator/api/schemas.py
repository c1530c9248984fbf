"""The REST bodies and envelopes, built from the service layer's schemas
(move_orchestrator.service.schemas) so that each field is defined once."""

from move_orchestrator.service import schemas as svc

_MOVE = svc.PARAMS['move_instance']['properties']
ACTIONS = ('abort', 'resume', 'revert', 'force_complete', 'pause')
# The action key of POST .../action -> the service's operation.
ACTION_OPERATIONS = {'abort': 'abort_task', 'resume': 'resume_task',
                     'revert': 'revert_task',
                     'force_complete': 'force_complete',
                     'pause': 'pause_task'}

MOVE_BODY = {
    'type': 'object', 'additionalProperties': False, 'required': ['move'],
    'properties': {'move': {
        'type': 'object', 'additionalProperties': False,
        'properties': {'host': _MOVE['destination'],
                       'flavor': _MOVE['flavor'], 'live': _MOVE['live']}}},
}

ACTION_BODY = {
    'type': 'object', 'additionalProperties': False,
    'minProperties': 1, 'maxProperties': 1,
    'properties': {a: {'type': 'null'} for a in ACTIONS},
}

_DRAIN = svc.PARAMS['drain_host']['properties']
DRAIN_BODY = {
    'type': 'object', 'additionalProperties': False, 'required': ['drain'],
    'properties': {'drain': {
        'type': 'object', 'additionalProperties': False,
        'required': ['host'],
        'properties': {'host': _DRAIN['host'], 'live': _DRAIN['live']}}},
}

HOST_BODY = {
    'type': 'object', 'additionalProperties': False, 'required': ['host'],
    'properties': {'host': {
        'type': 'object', 'additionalProperties': False,
        'required': ['state'],
        'properties': {'state': svc.PARAMS['set_host_state']['properties'][
            'state']}}},
}

LINKS = {'type': 'array', 'items': {
    'type': 'object', 'required': ['rel', 'href'],
    'properties': {'rel': {'type': 'string'}, 'href': {'type': 'string'}}}}

ERRORS = {
    'type': 'object', 'required': ['errors'], 'additionalProperties': False,
    'properties': {'errors': {'type': 'array', 'minItems': 1, 'items': {
        'type': 'object', 'additionalProperties': False,
        'required': ['request_id', 'code', 'status', 'title', 'detail'],
        'properties': {'request_id': {'type': ['string', 'null']},
                       'code': {'type': 'string',
                                'pattern': r'^moveorchestrator\.'},
                       'status': {'type': 'integer'},
                       'title': {'type': 'string'},
                       'detail': {'type': 'string'}}}}},
}

VERSION = {
    'type': 'object',
    'required': ['id', 'status', 'min_version', 'max_version', 'links'],
    'properties': {'id': {'type': 'string'}, 'status': {'type': 'string'},
                   'min_version': {'type': 'string'},
                   'max_version': {'type': 'string'}, 'links': LINKS}}
VERSIONS = {'type': 'object', 'required': ['versions'],
            'properties': {'versions': {'type': 'array', 'items': VERSION}}}


def envelope(key, operation, paged=False):
    """{key: the operation's answer} (and key_links for a page)."""
    properties = {key: svc.RESPONSES[operation]}
    if paged:
        properties[key + '_links'] = LINKS
    return {'type': 'object', 'required': [key],
            'additionalProperties': False, 'properties': properties}
