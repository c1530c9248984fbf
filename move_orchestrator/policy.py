"""oslo.policy enforcement. Checks run in the conductor (server side) on
the context that came over RPC, so a client cannot skip them."""

import threading

from oslo_policy import policy

from move_orchestrator.conf import CONF
from move_orchestrator import exception
from move_orchestrator import policies

_ENFORCER = None
_LOCK = threading.Lock()


def get_enforcer():
    """The enforcer for oslo.policy's tools (``oslo.policy.enforcer``)."""
    CONF([], project='move-orchestrator')
    return init()


def init(conf=CONF):
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is None:
            _ENFORCER = policy.Enforcer(conf)
            _ENFORCER.register_defaults(policies.list_rules())
        return _ENFORCER


def reset():
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is not None:
            _ENFORCER.clear()
        _ENFORCER = None


def authorize(context, action, target=None):
    """Raise Forbidden unless ``context`` may do ``action`` on ``target``.

    The default target is the caller's own project, as Nova's.
    """
    if target is None:
        target = {'project_id': context.project_id,
                  'user_id': context.user_id}
    return init().authorize(action, target, context, do_raise=True,
                            exc=exception.Forbidden, action=action)


def check_is_admin(context):
    return init().authorize('context_is_admin', {}, context)
