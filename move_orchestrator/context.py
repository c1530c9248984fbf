"""Request contexts: oslo.context's, carried over RPC by rpc.py's serializer.

Who asked (user, project, roles) travels with every call so that the
conductor checks policy and records the actor where the work is done.
"""

import getpass
import os

from oslo_context import context as oslo_context


class RequestContext(oslo_context.RequestContext):
    """oslo.context's, with ``claim``: the move's claim a conductor acts
    under when it calls a compute agent (db/fencing.py), None otherwise."""

    FROM_DICT_EXTRA_KEYS = ['claim']

    def __init__(self, *args, claim=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.claim = claim

    def to_dict(self):
        values = super().to_dict()
        values['claim'] = self.claim
        return values


def get_admin_context(overwrite=False):
    """A context that passes the admin rules (``role:admin``).

    For services and operators' tools acting on their own behalf; ``overwrite``
    False keeps it out of the thread-local "current context".
    """
    return RequestContext(user_id='admin', project_id='admin', is_admin=True,
                          roles=['admin'], overwrite=overwrite)


def get_context(user_id, project_id, roles=(), **kwargs):
    """A context for a caller, as the compute API builds it from a token."""
    return RequestContext(user_id=user_id, project_id=project_id,
                          roles=list(roles), overwrite=False,
                          is_admin='admin' in roles, **kwargs)


def get_operator_context():
    """The operator at this command line, with admin rights.

    Who asked is recorded with every action, so it is the person, not an
    anonymous admin: ``OS_USERNAME`` / ``OS_PROJECT_NAME`` as OpenStack's
    clients read them, else the local user name and project ``admin``.
    """
    user = os.environ.get('OS_USERNAME') or getpass.getuser()
    project = os.environ.get('OS_PROJECT_NAME') or 'admin'
    return RequestContext(user_id=user, project_id=project, is_admin=True,
                          roles=['admin'], overwrite=False)
