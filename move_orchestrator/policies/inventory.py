"""Operators' views of hosts, instances, flavors and the invariants audit:
the cloud's topology, so administrators only by default."""

from oslo_policy import policy

from move_orchestrator.policies import base


def _rule(name, description, path):
    return policy.DocumentedRuleDefault(
        name=name, check_str=base.ADMIN, description=description,
        operations=[{'method': 'RPC', 'path': path}] + [
            {'method': m, 'path': p} for m, p in REST.get(path, ())])


REST = {
    'list_hosts': [('GET', '/v1/hosts'), ('GET', '/v1/hosts/{host}')],
    'set_host_state': [('PUT', '/v1/hosts/{host}')],
    'drain_host': [('POST', '/v1/drains')],
    'list_instances': [('GET', '/v1/instances')],
    'list_flavors': [('GET', '/v1/flavors')],
    'audit': [('GET', '/v1/audit')],
}

rules = [
    _rule('host:list', 'List hosts with their state and usage.',
          'list_hosts'),
    _rule('host:update', 'Set a host up, down or disabled.',
          'set_host_state'),
    _rule('host:drain', 'Disable a host and move every instance off it, '
          'as one drain task.', 'drain_host'),
    _rule('instance:list', 'List instances of every project and their '
          'hosts.', 'list_instances'),
    _rule('flavor:list', 'List flavors.', 'list_flavors'),
    _rule('audit:run', 'Check the inventory against the hypervisors.',
          'audit'),
]


def list_rules():
    return rules
