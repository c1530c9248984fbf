"""What crosses RPC: every typed error is rebuilt as its own class with its
kwargs, and the policy defaults say who may do what."""

import inspect
import re
import sys

from oslo_config import cfg
from oslo_messaging._drivers import common as rpc_common
import pytest

from move_orchestrator import context
from move_orchestrator import exception
from move_orchestrator import policies
from move_orchestrator import policy
from move_orchestrator import rpc
from move_orchestrator.service import operations
from move_orchestrator.service import validation

ERRORS = [cls for _name, cls in inspect.getmembers(exception, inspect.isclass)
          if issubclass(cls, exception.MoveOrchestratorException)]


def _round_trip(error):
    try:
        raise error
    except exception.MoveOrchestratorException:
        data = rpc_common.serialize_remote_exception(sys.exc_info())
    return rpc_common.deserialize_remote_exception(data, rpc.ALLOWED_EXMODS)


@pytest.mark.parametrize('cls', ERRORS, ids=lambda c: c.__name__)
def test_typed_error_rebuilt_as_same_class(cls):
    kwargs = {k: 'v-%s' % k for k in re.findall(r'%\((\w+)\)', cls.msg_fmt)}
    error = cls(**kwargs)
    rebuilt = _round_trip(error)
    assert isinstance(rebuilt, cls)
    assert type(rebuilt).__mro__[1] is cls
    assert rebuilt.kwargs == kwargs
    assert rebuilt.message == error.message
    assert rebuilt.code == error.code


def test_error_from_other_module_is_not_rebuilt():
    class Alien(Exception):
        pass
    try:
        raise Alien('no')
    except Alien:
        data = rpc_common.serialize_remote_exception(sys.exc_info())
    rebuilt = rpc_common.deserialize_remote_exception(data,
                                                      rpc.ALLOWED_EXMODS)
    assert not isinstance(rebuilt, Alien)


@pytest.fixture
def enforcer():
    """The enforcer on a parsed private conf (no policy file: defaults)."""
    conf = cfg.ConfigOpts()
    conf([], project='move-orchestrator')
    policy.reset()
    yield policy.init(conf)
    policy.reset()


def test_policy_defaults(enforcer):
    names = {r.name for r in policies.list_rules()}
    assert {'move:create', 'task:get', 'task:list', 'task:abort',
            'task:resume', 'task:revert', 'task:force_complete'} <= names
    admin = context.get_admin_context()
    owner = context.get_context('u', 'p1', roles=['member'])
    for name in names - {'context_is_admin', 'admin_or_owner'}:
        assert policy.authorize(admin, name, {'project_id': 'p1'})
    assert policy.authorize(owner, 'task:get', {'project_id': 'p1'})
    assert policy.authorize(owner, 'task:list', {'project_id': 'p1'})
    for name in ('move:create', 'task:abort', 'task:resume', 'task:revert',
                 'task:force_complete', 'host:list', 'host:drain',
                 'task:pause'):
        with pytest.raises(exception.Forbidden):
            policy.authorize(owner, name, {'project_id': 'p1'})
    with pytest.raises(exception.Forbidden):
        policy.authorize(owner, 'task:get', {'project_id': 'p2'})
    with pytest.raises(exception.Forbidden):
        policy.authorize(owner, 'task:list', operations.NOBODY)


@pytest.mark.parametrize('limit', [0, -1, 1001, True, 1.5, '10'])
def test_bad_limits_refused(limit):
    with pytest.raises(exception.InvalidParameter):
        validation.validate('list_tasks', {'limit': limit})


def test_oversized_payload_refused_without_echo():
    with pytest.raises(exception.InvalidMoveRequest) as err:
        validation.validate('move_instance', {'instance': 'vm1', 'x' * 9000: 1})
    assert len(err.value.message) < 200
