"""Who may start a move. Moving instances between hosts exposes the
cloud's topology and spends its capacity: administrators only by default."""

from oslo_policy import policy

from move_orchestrator.policies import base

rules = [
    policy.DocumentedRuleDefault(
        name='move:create', check_str=base.ADMIN,
        description='Move an instance: live-migrate, cold-migrate, resize, '
                    'live-resize or evacuate, the type derived from the '
                    'request.',
        operations=[{'method': 'RPC', 'path': 'move_instance'},
                    {'method': 'POST', 'path': '/v1/servers/{server_id}/tasks'}]),
]


def list_rules():
    return rules
