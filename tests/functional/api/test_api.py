"""The task API over HTTP against real databases: every move type through
POST and its Location, actions, ownership, idempotency, paging, policy,
events and errors; every answer checked against the OpenAPI document."""

import jsonschema
import pytest

from tests.functional.api import harness

ADMIN, OWNER, OTHER = harness.ADMIN, harness.OWNER, harness.OTHER


@pytest.fixture(scope='module')
def openapi(api):
    return api.call('GET', '/v1/openapi.json').json()


@pytest.fixture
def check(openapi):
    """check(resp, method, path template): the answer matches its schema
    (the success status's, or the errors' for any other)."""
    def _check(resp, method, template):
        op = openapi['paths'][template][method.lower()]
        answer = op['responses'].get(str(resp.status_code)) or \
            op['responses']['default']
        schema = answer['content']['application/json']['schema']
        jsonschema.validate(resp.json(), schema)
        assert resp.headers['OpenStack-API-Version'] == 'move 1.0'
        assert resp.headers['x-openstack-request-id'].startswith('req-')
        return resp.json()
    return _check


TASKS = '/v1/servers/{server_id}/tasks'
TASK = TASKS + '/{task_id}'
ACTION = TASK + '/action'


def _error(resp, status, code):
    assert resp.status_code == status, resp.text
    error = resp.json()['errors'][0]
    assert error['code'] == 'moveorchestrator.' + code, error
    assert error['status'] == status
    assert error['request_id'] == resp.headers['x-openstack-request-id']
    assert '\n' not in error['detail'] and len(error['detail']) < 300
    return error


@pytest.mark.parametrize('kind', ['live-migrate', 'cold-migrate', 'resize',
                                  'evacuate'])
def test_every_move_type_through_post(api, check, kind):
    host = {'evacuate': 'host5'}.get(kind, 'host1')
    vm = api.boot(host=host, flavor='m1.tiny')
    move = {'live-migrate': {'host': 'host2', 'live': True},
            'cold-migrate': {'host': 'host2', 'live': False},
            'resize': {'flavor': 'm1.small', 'host': 'host2'},
            'evacuate': {'host': 'host3'}}[kind]
    if kind == 'evacuate':
        resp = api.call('PUT', '/v1/hosts/host5',
                        body={'host': {'state': 'down'}})
        assert check(resp, 'PUT', '/v1/hosts/{host}')['host']['state'] == \
            'down'
    try:
        resp = api.move(vm['uuid'], **move)
        assert resp.status_code == 202, resp.text
        accepted = check(resp, 'POST', TASKS)['task']
        assert accepted['type'] == kind
        location = resp.headers['Location']
        assert location == '%s/v1/servers/%s/tasks/%s' % (
            api.url, vm['uuid'], accepted['id'])
        done = api.wait(location)
        assert done['state'] == 'completed', done['reason']
        check(api.call('GET', location), 'GET', TASK)
        assert api.services.inventory.get_instance(vm['uuid'])['host'] == \
            done['destination']
    finally:
        if kind == 'evacuate':
            api.call('PUT', '/v1/hosts/host5', body={'host': {'state': 'up'}})


def test_actions(api, check):
    # abort: a live migration still preparing its destination
    vm = api.boot()
    resp = api.move(vm['uuid'], host='host-slow')
    location = resp.headers['Location']
    resp = api.call('POST', location + '/action', body={'abort': None})
    assert resp.status_code == 202, resp.text
    check(resp, 'POST', ACTION)
    done = api.wait(location)
    assert done['state'] == 'reverted'
    assert [a['action'] for a in done['actions']] == ['abort']
    assert done['actions'][0]['user_id'] == 'u-admin'
    # resume and revert: cold moves whose copy and revert failed once
    for host, action, end in (('host-bad1', 'resume', 'completed'),
                              ('host-bad2', 'revert', 'reverted')):
        vm = api.boot(power_state='shutdown')
        location = api.move(vm['uuid'], host=host).headers['Location']
        assert api.wait(location)['state'] == 'failed'
        resp = api.call('POST', location + '/action', body={action: None})
        check(resp, 'POST', ACTION)
        assert resp.status_code == 202, resp.text
        assert api.wait(location)['state'] == end
    # force_complete of a cold move: refused, typed, nothing changes
    before = api.snapshot()
    resp = api.call('POST', location + '/action',
                    body={'force_complete': None})
    _error(resp, 409, 'task.invalid_action')
    check(resp, 'POST', ACTION)
    assert api.snapshot() == before
    # the admin path to the same actions
    task_id = location.rsplit('/', 1)[1]
    resp = api.call('POST', '/v1/tasks/%s/action' % task_id,
                    body={'abort': None})
    _error(resp, 409, 'task.invalid_action')


@pytest.mark.parametrize('body', [{}, {'abort': None, 'revert': None},
                                  {'abort': 1}, {'stop': None}, [], 'abort'])
def test_malformed_actions_refused(api, body):
    vm = api.boot()
    location = api.move(vm['uuid'], host='host2').headers['Location']
    api.wait(location)
    before = api.snapshot()
    _error(api.call('POST', location + '/action', body=body), 400,
           'parameter.invalid')
    assert api.snapshot() == before


def test_another_servers_task_is_not_found(api):
    vm, other = api.boot(), api.boot()
    location = api.move(vm['uuid'], host='host2').headers['Location']
    task_id = location.rsplit('/', 1)[1]
    api.wait(location)
    for path in ('/v1/servers/%s/tasks/%s' % (other['uuid'], task_id),
                 '/v1/servers/no-such-server/tasks/%s' % task_id):
        _error(api.call('GET', path), 404, 'task.not_found')
        _error(api.call('POST', path + '/action', body={'revert': None}),
               404, 'task.not_found')
    _error(api.call('GET', '/v1/servers/%s/tasks/nope' % vm['uuid']), 404,
           'task.not_found')


def test_idempotency_key(api, check):
    vm = api.boot()
    key = {'Idempotency-Key': 'idem-%s' % vm['uuid']}
    first = api.move(vm['uuid'], headers=key, host='host3')
    again = api.move(vm['uuid'], headers=key, host='host3')
    assert first.status_code == again.status_code == 202
    assert check(again, 'POST', TASKS)['task']['id'] == \
        first.json()['task']['id']
    api.wait(first.headers['Location'])
    again = api.move(vm['uuid'], headers=key, host='host3')
    assert again.json()['task']['id'] == first.json()['task']['id']
    assert len(api.call('GET', '/v1/servers/%s/tasks' % vm['uuid'])
               .json()['tasks']) == 1
    # The same key for another request is refused.
    _error(api.move(vm['uuid'], headers=key, host='host4'), 400,
           'move.invalid_request')
    _error(api.move(vm['uuid'], headers={'Idempotency-Key': 'k' * 300}),
           400, 'move.invalid_request')


def test_paging_and_filters(api, check):
    vm = api.boot(power_state='shutdown')
    ids = []
    for dest in ('host2', 'host3', 'host4', 'host5'):
        resp = api.move(vm['uuid'], host=dest)
        ids.append(api.wait(resp.headers['Location'])['id'])
    newest_first = list(reversed(ids))
    path = '/v1/servers/%s/tasks?limit=3' % vm['uuid']
    seen = []
    while path:
        page = check(api.call('GET', path), 'GET', TASKS)
        seen += [t['id'] for t in page['tasks']]
        nxt = [link['href'] for link in page['tasks_links']
               if link['rel'] == 'next']
        path = nxt[0] if nxt else None
    assert seen == newest_first
    listed = api.call('GET', '/v1/servers/%s/tasks?state=completed'
                      '&type=cold-migrate' % vm['uuid']).json()['tasks']
    assert [t['id'] for t in listed] == newest_first
    assert api.call('GET', '/v1/servers/%s/tasks?type=resize'
                    % vm['uuid']).json()['tasks'] == []
    admin = check(api.call('GET', '/v1/tasks?host=host5&type=cold-migrate'),
                  'GET', '/v1/tasks')['tasks']
    assert ids[-1] in [t['id'] for t in admin]
    assert all('host5' in (t['source'], t['destination']) for t in admin)
    _error(api.call('GET', '/v1/tasks?marker=no-such-task'), 400,
           'task.marker_not_found')
    for query in ('limit=0', 'limit=x', 'limit=1001', 'bogus=1',
                  'limit=1&limit=2'):
        _error(api.call('GET', '/v1/tasks?' + query), 400,
               'parameter.invalid')


def test_policy(api, check):
    vm = api.boot(project_id='p-owner')
    # A member moves nothing, and the refusal writes nothing.
    before = api.snapshot()
    _error(api.move(vm['uuid'], OWNER, host='host2'), 403,
           'policy.forbidden')
    _error(api.call('PUT', '/v1/hosts/host1', OWNER,
                    body={'host': {'state': 'down'}}), 403,
           'policy.forbidden')
    assert api.snapshot() == before
    # A reverted move: its record has host names and error text.
    location = api.move(vm['uuid'], host='host-faulty',
                        live=False).headers['Location']
    full = api.wait(location)
    assert full['state'] == 'reverted' and 'host-faulty' in repr(full)
    seen = check(api.call('GET', location, OWNER), 'GET', TASK)['task']
    assert seen['state'] == 'reverted'
    assert [h['state'] for h in seen['history']] == \
        [h['state'] for h in full['history']]
    text = repr(seen)
    for hidden in ('host-faulty', 'host1', 'Traceback', full['reason']):
        assert hidden not in text
    task_id = full['id']
    events = check(api.call('GET', '/v1/tasks/%s/events' % task_id, OWNER),
                   'GET', '/v1/tasks/{task_id}/events')['events']
    assert events and 'host-faulty' not in repr(events)
    listed = api.call('GET', '/v1/servers/%s/tasks' % vm['uuid'], OWNER)
    assert [t['id'] for t in listed.json()['tasks']] == [task_id]
    assert 'host-faulty' not in listed.text
    # Another project reads nothing of it; owners list no one else's.
    _error(api.call('GET', location, OTHER), 403, 'policy.forbidden')
    _error(api.call('GET', '/v1/servers/%s/tasks' % vm['uuid'], OTHER),
           403, 'policy.forbidden')
    _error(api.call('GET', '/v1/tasks', OWNER), 403, 'policy.forbidden')
    _error(api.call('GET', '/v1/hosts', OWNER), 403, 'policy.forbidden')
    _error(api.call('POST', location + '/action', OWNER,
                    body={'revert': None}), 403, 'policy.forbidden')
    # Admins see everything.
    assert api.call('GET', location).json()['task'] == full


def test_events_follow_a_task(api, check):
    vm = api.boot()
    location = api.move(vm['uuid'], host='host2').headers['Location']
    task = api.wait(location)
    path = '/v1/tasks/%s/events' % task['id']
    events = check(api.call('GET', path), 'GET',
                   '/v1/tasks/{task_id}/events')['events']
    assert [e['state'] for e in events if e['kind'] == 'move'] == \
        [h['state'] for h in task['history']]
    ids = [e['id'] for e in events]
    assert ids == sorted(ids)
    later = api.call('GET', path + '?since=%d' % ids[2]).json()['events']
    assert [e['id'] for e in later] == ids[3:]
    resp = api.call('GET', path + '?since=%d&wait=0.3' % ids[-1])
    assert resp.json()['events'] == []
    _error(api.call('GET', path + '?wait=31'), 400, 'parameter.invalid')
    _error(api.call('GET', '/v1/tasks/nope/events'), 404, 'task.not_found')


def test_http_errors(api, check):
    vm = api.boot()
    path = '/v1/servers/%s/tasks' % vm['uuid']
    before = api.snapshot()
    resp = api.call('POST', path, data=b'{"move": ',
                    headers={'Content-Type': 'application/json'})
    _error(resp, 400, 'api.malformed_body')
    resp = api.call('POST', path, data=b'move=1',
                    headers={'Content-Type': 'text/plain'})
    _error(resp, 415, 'api.unsupported_media_type')
    _error(api.move(vm['uuid'], host=7), 400, 'move.invalid_request')
    _error(api.move(vm['uuid'], host='x' * 100000), 400,
           'move.invalid_request')
    _error(api.move(vm['uuid'], host='host1'), 400, 'move.invalid_request')
    _error(api.move('no-such-vm', host='host2'), 404, 'instance.not_found')
    _error(api.move(vm['uuid'], host='nowhere'), 404, 'host.not_found')
    _error(api.move(vm['uuid'], flavor='m9.huge'), 404, 'flavor.not_found')
    assert api.snapshot() == before
    _error(api.call('GET', '/v2/nothing'), 404, 'api.not_found')
    _error(api.call('DELETE', '/v1/tasks'), 405, 'api.method_not_allowed')
    _error(api.call('GET', '/v1/tasks',
                    headers={'OpenStack-API-Version': 'move 1.1'}), 406,
           'api.version_not_acceptable')
    _error(api.call('GET', '/v1/tasks',
                    headers={'OpenStack-API-Version': 'move x'}), 400,
           'api.invalid_version')
    assert api.call('GET', '/v1/tasks', headers={
        'OpenStack-API-Version': 'move latest'}).status_code == 200
    assert api.call('GET', '/healthcheck').status_code == 200
    versions = api.call('GET', '/').json()['versions']
    assert versions[0]['max_version'] == '1.0'


def test_hosts_and_inventory(api, check):
    hosts = check(api.call('GET', '/v1/hosts'), 'GET', '/v1/hosts')
    assert {'host1', 'host-faulty'} <= {h['name'] for h in hosts['hosts']}
    check(api.call('GET', '/v1/hosts/host1'), 'GET', '/v1/hosts/{host}')
    _error(api.call('GET', '/v1/hosts/nowhere'), 404, 'host.not_found')
    _error(api.call('PUT', '/v1/hosts/host1',
                    body={'host': {'state': 'sideways'}}), 400,
           'parameter.invalid')
    check(api.call('GET', '/v1/instances?host=host1'), 'GET',
          '/v1/instances')
    check(api.call('GET', '/v1/flavors'), 'GET', '/v1/flavors')
    check(api.call('GET', '/v1/audit'), 'GET', '/v1/audit')


def test_drain_a_host(api, check):
    host = 'host6'
    vms = [api.boot(host=host, power_state='shutdown') for _ in range(2)]
    before = api.snapshot()
    _error(api.call('POST', '/v1/drains', OWNER,
                    body={'drain': {'host': host}}), 403, 'policy.forbidden')
    _error(api.call('POST', '/v1/drains', body={'drain': {'host': 7}}), 400,
           'parameter.invalid')
    _error(api.call('POST', '/v1/drains', body={'drain': {'host': 'nope'}}),
           404, 'host.not_found')
    assert api.snapshot() == before
    # The scheduler must not pick a host where moves fail on purpose.
    faulty = ('host-faulty',) + harness.EXTRA_HOSTS
    for name in faulty:
        api.services.inventory.set_host_state(name, 'disabled')
    try:
        resp = api.call('POST', '/v1/drains', body={'drain': {'host': host}})
        assert resp.status_code == 202, resp.text
        done = api.wait(resp.headers['Location'])
    finally:
        for name in faulty:
            api.services.inventory.set_host_state(name, 'up')
    drain = check(resp, 'POST', '/v1/drains')['task']
    assert drain['type'] == 'drain' and drain['instance'] is None
    location = '%s/v1/tasks/%s' % (api.url, drain['id'])
    assert resp.headers['Location'] == location
    assert done['state'] == 'completed', done
    check(api.call('GET', resp.headers['Location']), 'GET',
          '/v1/tasks/{task_id}')
    for vm in vms:
        assert api.services.inventory.get_instance(vm['uuid'])['host'] != \
            host
    # A drain is an administrator's: an owner cannot read it.
    _error(api.call('GET', resp.headers['Location'], OWNER), 403,
           'policy.forbidden')
    _error(api.call('POST', resp.headers['Location'] + '/action',
                    body={'pause': None}), 409, 'task.invalid_action')
    api.call('PUT', '/v1/hosts/%s' % host, body={'host': {'state': 'up'}})
