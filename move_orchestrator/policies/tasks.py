"""Who may read and steer move tasks. Owners of an instance may read its
tasks; acting on a move (abort, resume, revert, force-complete) is for
administrators."""

from oslo_policy import policy

from move_orchestrator.policies import base

rules = [
    policy.DocumentedRuleDefault(
        name='task:get', check_str=base.ADMIN_OR_OWNER,
        description='Show a move task: state, history and sub-tasks. The '
                    'owner is the project of the moved instance.',
        operations=[{'method': 'RPC', 'path': 'get_task'}]),
    policy.DocumentedRuleDefault(
        name='task:list', check_str=base.ADMIN_OR_OWNER,
        description='List move tasks. Without an instance filter the owner '
                    'checked is nobody, so only administrators may list '
                    'every task.',
        operations=[{'method': 'RPC', 'path': 'list_tasks'}]),
    policy.DocumentedRuleDefault(
        name='task:abort', check_str=base.ADMIN,
        description='Abort a running move before its point of no return.',
        operations=[{'method': 'RPC', 'path': 'abort_task'}]),
    policy.DocumentedRuleDefault(
        name='task:resume', check_str=base.ADMIN,
        description='Resume a failed move from the step that failed.',
        operations=[{'method': 'RPC', 'path': 'resume_task'}]),
    policy.DocumentedRuleDefault(
        name='task:revert', check_str=base.ADMIN,
        description='Revert a failed move that did not pass its point of no '
                    'return.',
        operations=[{'method': 'RPC', 'path': 'revert_task'}]),
    policy.DocumentedRuleDefault(
        name='task:force_complete', check_str=base.ADMIN,
        description='Force a live migration that does not converge to '
                    'complete (post-copy).',
        operations=[{'method': 'RPC', 'path': 'force_complete'}]),
    policy.DocumentedRuleDefault(
        name='task:pause', check_str=base.ADMIN,
        description='Pause a drain: no new child moves start until it is '
                    'resumed.',
        operations=[{'method': 'RPC', 'path': 'pause_task'}]),
]


def list_rules():
    return rules
