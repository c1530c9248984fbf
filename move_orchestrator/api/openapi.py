"""The OpenAPI 3.1 document, generated from the route table and the same
schemas that validate the requests (service.schemas, api.schemas) and that
the tests check the answers against."""

import copy
import functools
import re

from move_orchestrator.api import microversion
from move_orchestrator.api import routes
from move_orchestrator.api import schemas
from move_orchestrator.service import schemas as svc

PAGED = {'list_tasks'}
_PARAM = re.compile(r'{(\w+)}')


def _query_parameter(operation, name):
    schema = copy.deepcopy(svc.PARAMS[operation]['properties'][name])
    return {'name': name, 'in': 'query', 'required': False,
            'schema': schema}


def _path_parameter(name):
    service_name = routes.PATH_PARAMS[name]
    schema = copy.deepcopy(
        svc.PARAMS['get_task']['properties']['task_id'] if
        service_name == 'task_id' else svc.ID)
    return {'name': name, 'in': 'path', 'required': True, 'schema': schema}


HEADERS = [
    {'name': microversion.HEADER, 'in': 'header', 'required': False,
     'description': 'The API version asked for: "move 1.0" or "move '
                    'latest".', 'schema': {'type': 'string'}},
]
IDEMPOTENCY = {'name': 'Idempotency-Key', 'in': 'header', 'required': False,
               'description': 'The move\'s request_id: the same key returns '
                              'the same task, not a second move.',
               'schema': copy.deepcopy(svc.ID)}


# From the task a POST made to what follows it (OpenAPI links: clients and
# stateful fuzzers follow them).
_TASK_PARAMS = {'server_id': '$request.path.server_id',
                'task_id': '$response.body#/task/id'}
TASK_LINKS = {
    'ShowTask': {'operationId': 'showServerTask',
                 'parameters': _TASK_PARAMS},
    'ActOnTask': {'operationId': 'actOnServerTask',
                  'parameters': _TASK_PARAMS},
    'ListEvents': {'operationId': 'listTaskEvents',
                   'parameters': {'task_id': '$response.body#/task/id'}},
}


def _operation(route):
    op = route.operations[0]
    params = [_path_parameter(n) for n in _PARAM.findall(route.path)]
    params += [_query_parameter(op, q) for q in route.query]
    params += copy.deepcopy(HEADERS)
    if op == 'move_instance':
        params.append(copy.deepcopy(IDEMPOTENCY))
    success = {'description': 'OK', 'content': {'application/json': {
        'schema': schemas.envelope(route.envelope, op,
                                   paged=op in PAGED)}}}
    if route.status == 202:
        success['description'] = 'Accepted'
    if op == 'move_instance':
        success['headers'] = {'Location': {
            'description': 'The task to poll.',
            'schema': {'type': 'string'}}}
        success['links'] = copy.deepcopy(TASK_LINKS)
    doc = {
        'operationId': route.name, 'summary': route.summary,
        'tags': [route.path.split('/')[2]],
        'parameters': params,
        'responses': {
            str(route.status): success,
            'default': {'description': 'An error (API-SIG format).',
                        'content': {'application/json': {
                            'schema': copy.deepcopy(schemas.ERRORS)}}}},
        'x-operations': list(route.operations),
        'x-policy': sorted({_rule(o) for o in route.operations}),
    }
    if route.body is not None:
        doc['requestBody'] = {'required': True, 'content': {
            'application/json': {'schema': copy.deepcopy(route.body)}}}
    return doc


def _rule(operation):
    from move_orchestrator.service import operations
    return operations.OPERATIONS[operation].rule


@functools.lru_cache(maxsize=1)
def _document():
    paths = {}
    for route in routes.ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = \
            _operation(route)
    paths['/'] = {'get': {
        'operationId': 'listVersions', 'summary': 'Version discovery.',
        'tags': ['versions'], 'parameters': copy.deepcopy(HEADERS),
        'responses': {'200': {'description': 'OK', 'content': {
            'application/json': {'schema': copy.deepcopy(
                schemas.VERSIONS)}}}}}}
    return {
        'openapi': '3.1.0',
        'info': {'title': 'move-orchestrator task API',
                 'version': microversion.text(microversion.MAX_VERSION),
                 'description': 'Move servers between hosts and follow '
                                'the moves\' tasks. Every request and '
                                'answer here is validated against these '
                                'schemas.'},
        'paths': paths,
    }


def document():
    return copy.deepcopy(_document())
