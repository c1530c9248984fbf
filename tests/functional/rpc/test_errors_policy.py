"""Typed errors, policy and version pinning across RPC, and malformed
payloads refused before anything is written."""

import uuid

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import pytest
import sqlalchemy as sa

from move_orchestrator import context
from move_orchestrator import exception
from move_orchestrator.moves import request as move_request
from tests.functional.rpc import harness


def _raises(cls, call, *args, **kwargs):
    """The error arrives as ``cls`` itself, with the server's kwargs and
    message, and str() that message (no server traceback)."""
    with pytest.raises(cls) as err:
        call(*args, **kwargs)
    assert type(err.value) is cls
    assert err.value.message == cls(**err.value.kwargs).message
    assert str(err.value) == err.value.message
    return err.value


def test_typed_errors_arrive_as_the_same_classes(api, admin, boot):
    running = boot()
    stopped = boot(power_state='shutdown')
    missing = str(uuid.uuid4())

    e = _raises(exception.InstanceNotFound, api.move_instance, admin,
                missing)
    assert e.kwargs == {'instance': missing}
    e = _raises(exception.HostNotFound, api.move_instance, admin,
                running['uuid'], destination='no-such-host')
    assert e.kwargs == {'host': 'no-such-host'}
    _raises(exception.FlavorNotFound, api.move_instance, admin,
            running['uuid'], flavor='m9.huge')
    # A live resize the guest cannot take arrives as the precise subclass,
    # still caught by callers of the base class.
    e = _raises(exception.CannotHotplug, api.move_instance, admin,
                running['uuid'], flavor='m1.small', live=True)
    assert isinstance(e, exception.InvalidMoveRequest)
    e = _raises(exception.InstanceInvalidState, api.move_instance, admin,
                stopped['uuid'], live=True)
    assert e.kwargs['state'] == 'shutdown'
    _raises(exception.InvalidMoveRequest, api.move_instance, admin,
            running['uuid'], destination=running['host'])
    _raises(exception.TaskNotFound, api.get_task, admin, missing)
    _raises(exception.InvalidParameter, api.list_tasks, admin, limit=0)
    _raises(exception.InvalidParameter, api.get_task, admin, 'x' * 300)
    # The typed hierarchy holds too: callers may catch the base classes.
    with pytest.raises(exception.NotFound):
        api.get_task(admin, missing)


def test_refused_calls_leave_no_traceback_in_the_server_log(
        conductor, api, admin, boot):
    """A typed refusal is the caller's answer, not a server failure: the
    client gets the class, the conductor's log gets no traceback."""
    stopped = boot(power_state='shutdown')
    start = len(conductor.log_text())
    _raises(exception.InstanceNotFound, api.move_instance, admin, 'vm99')
    _raises(exception.InstanceInvalidState, api.move_instance, admin,
            stopped['uuid'], live=True)
    _raises(exception.TaskNotFound, api.abort_task, admin,
            str(uuid.uuid4()))
    _raises(exception.InvalidParameter, api.list_tasks, admin, limit=0)
    api.list_hosts(admin)    # answered after the refusals: they are logged
    written = conductor.log_text()[start:]
    assert 'Traceback' not in written, written
    assert ' ERROR ' not in written, written


def test_version_cap_refuses_newer_methods(conductor, admin):
    pinned = harness.client(conductor.broker_url, version_cap='1.0')
    try:
        e = _raises(exception.ServiceTooOld, pinned.abort_task, admin,
                    str(uuid.uuid4()))
        assert e.kwargs == {'method': 'abort_task', 'needed': '1.1',
                            'pinned': '1.0'}
        assert pinned.list_tasks(admin, limit=1) is not None  # 1.0 works
    finally:
        pinned.cleanup()


def test_policy_refusals_for_non_admin(api, admin, boot):
    owner = context.get_context('u-owner', 'p-owner', roles=['member'])
    other = context.get_context('u-other', 'p-other', roles=['member'])
    vm = boot(project_id='p-owner')
    task = api.move_instance(admin, vm['uuid'], destination='host2')

    _raises(exception.Forbidden, api.move_instance, owner,
            boot(project_id='p-owner')['uuid'])
    # Owners read their own instance's tasks, nobody else's.
    assert api.get_task(owner, task['id'])['id'] == task['id']
    assert [t['id'] for t in api.list_tasks(owner, instance=vm['uuid'])] \
        == [task['id']]
    _raises(exception.Forbidden, api.get_task, other, task['id'])
    _raises(exception.Forbidden, api.list_tasks, other, instance=vm['uuid'])
    _raises(exception.Forbidden, api.list_tasks, owner)
    for action in (api.abort_task, api.resume_task, api.revert_task,
                   api.force_complete):
        e = _raises(exception.Forbidden, action, owner, task['id'])
        assert e.kwargs['action'].startswith('task:')
    _raises(exception.Forbidden, api.list_hosts, owner)
    _raises(exception.Forbidden, api.set_host_state, owner, 'host1', 'down')
    harness.wait_task(api, admin, task['id'])


# -- malformed payloads -------------------------------------------------------

def _counts(services):
    with services.db.engine.connect() as conn:
        return {t: conn.execute(sa.text('SELECT COUNT(*) FROM %s' % t)
                                ).scalar()
                for t in ('moves', 'move_events', 'allocations')}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
_not_str = _json.filter(lambda v: not isinstance(v, str))
_bad_str = st.one_of(
    st.just(''), st.text(' \t\n', min_size=1, max_size=5),
    st.text(min_size=move_request.MAX_FIELD + 1, max_size=600),
    st.just('x' * 100000))
_bad_value = _not_str | _bad_str
# Names the client's own call() signature takes are not payload keys.
_unknown_key = st.text(min_size=1, max_size=30).filter(
    lambda k: k not in move_request.REQUEST_KEYS + ('self', 'ctxt',
                                                    'method'))


@st.composite
def malformed_payloads(draw, instance):
    payload = {'instance': instance}
    flaw = draw(st.sampled_from(['unknown_key', 'instance', 'missing',
                                 'live', 'field']))
    if flaw == 'unknown_key':
        payload[draw(_unknown_key)] = draw(_json)
    elif flaw == 'instance':
        payload['instance'] = draw(_bad_value)
    elif flaw == 'missing':
        del payload['instance']
        payload['destination'] = 'host2'
    elif flaw == 'live':
        payload['live'] = draw(_json.filter(
            lambda v: v not in (None, True, False)))
    else:
        field = draw(st.sampled_from(['destination', 'flavor',
                                      'request_id']))
        payload[field] = draw(_bad_value.filter(lambda v: v is not None))
    return payload


@pytest.fixture(scope='module')
def victim(conductor):
    return harness.boot(conductor.services, conductor.hosts[0])


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_malformed_payloads_are_refused_and_write_nothing(
        conductor, api, victim, data):
    payload = data.draw(malformed_payloads(victim['uuid']))
    before = _counts(conductor.services)
    raw = api.client.prepare(version='1.0')
    with pytest.raises(exception.MoveOrchestratorException) as err:
        raw.call(context.get_admin_context(), 'move_instance', **payload)
    assert isinstance(err.value, exception.InvalidMoveRequest), \
        (payload, err.value)
    assert len(err.value.message) < 1000
    assert _counts(conductor.services) == before
    assert conductor.services.inventory.get_instance(
        victim['uuid'])['move_id'] is None
