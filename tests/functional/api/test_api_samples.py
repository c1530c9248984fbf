"""The docs' API samples (doc/source/api-samples) are real: each matches
its schema in the OpenAPI document, and has the shape of what a running
API answers now."""

import json
import os

import jsonschema
import pytest

from tests.functional.api import harness

SAMPLES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                       'source', 'api-samples')
TASK = '/v1/servers/{server_id}/tasks/{task_id}'
# sample -> (method, path template, status or "request")
WHERE = {
    'task-create-req.json': ('post', '/v1/servers/{server_id}/tasks',
                             'request'),
    'task-show-resp.json': ('get', TASK, '200'),
    'task-show-owner-resp.json': ('get', TASK, '200'),
    'tasks-list-resp.json': ('get', '/v1/servers/{server_id}/tasks', '200'),
    'task-events-resp.json': ('get', '/v1/tasks/{task_id}/events', '200'),
    'task-action-req.json': ('post', TASK + '/action', 'request'),
    'task-action-conflict-resp.json': ('post', TASK + '/action', 'default'),
    'host-update-req.json': ('put', '/v1/hosts/{host}', 'request'),
    'host-update-resp.json': ('put', '/v1/hosts/{host}', '200'),
    'versions-resp.json': ('get', '/', '200'),
}


def _load(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return json.load(f)


def shape(value):
    """Keys all the way down; a list by its first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


@pytest.fixture(scope='module')
def api(tmp_path_factory):
    from tests.db_fixtures import fresh_database
    with fresh_database('sqlite',
                        tmp_dir=tmp_path_factory.mktemp('samples')) as url:
        server = harness.ApiServer(url)
        try:
            yield server
        finally:
            server.close()


def test_every_sample_is_checked():
    assert sorted(os.listdir(SAMPLES)) == sorted(WHERE)


@pytest.mark.parametrize('name', sorted(WHERE))
def test_sample_matches_its_schema(api, name):
    method, path, status = WHERE[name]
    op = api.call('GET', '/v1/openapi.json').json()['paths'][path][method]
    if status == 'request':
        schema = op['requestBody']['content']['application/json']['schema']
    else:
        schema = op['responses'][status]['content']['application/json'][
            'schema']
    jsonschema.validate(_load(name), schema)


def test_samples_have_the_shape_of_real_answers(api):
    vm = api.boot(name='web-1', host='host1')
    resp = api.move(vm['uuid'], headers={'Idempotency-Key': 'req-7c1d'},
                    **_load('task-create-req.json')['move'])
    location = resp.headers['Location']
    task = api.wait(location)
    real = {
        'task-show-resp.json': api.call('GET', location).json(),
        'task-show-owner-resp.json': api.call('GET', location,
                                              harness.OWNER).json(),
        'tasks-list-resp.json': api.call(
            'GET', '/v1/servers/%s/tasks?limit=1' % vm['uuid']).json(),
        'task-events-resp.json': api.call(
            'GET', '/v1/tasks/%s/events?since=0' % task['id']).json(),
        'task-action-conflict-resp.json': api.call(
            'POST', location + '/action',
            body=_load('task-action-req.json')).json(),
        'host-update-resp.json': api.call(
            'PUT', '/v1/hosts/host6',
            body=_load('host-update-req.json')).json(),
        'versions-resp.json': api.call('GET', '/').json(),
    }
    for name, answer in real.items():
        assert shape(answer) == shape(_load(name)), name
    sample = dict(_load('task-show-resp.json')['task']['request'])
    assert dict(sample, instance=vm['uuid']) == \
        real['task-show-resp.json']['task']['request']
