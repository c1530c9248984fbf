"""Who may read and steer move tasks. Owners of an instance may read its
tasks; acting on a move (abort, resume, revert, force-complete) is for
administrators."""

from oslo_policy import policy

from move_orchestrator.policies import base

SERVER_TASKS = '/v1/servers/{server_id}/tasks'


def _action(rpc, action):
    return [{'method': 'RPC', 'path': rpc}] + [
        {'method': 'POST', 'path': '%s/{task_id}/action (%s)' % (p, action)}
        for p in (SERVER_TASKS, '/v1/tasks')]


rules = [
    policy.DocumentedRuleDefault(
        name='task:get', check_str=base.ADMIN_OR_OWNER,
        description='Show a move task: state, history and sub-tasks. The '
                    'owner is the project of the moved instance.',
        operations=[{'method': 'RPC', 'path': 'get_task'},
                    {'method': 'GET', 'path': SERVER_TASKS + '/{task_id}'},
                    {'method': 'GET', 'path': '/v1/tasks/{task_id}'},
                    {'method': 'GET', 'path': '/v1/tasks/{task_id}/events'}]),
    policy.DocumentedRuleDefault(
        name='task:list', check_str=base.ADMIN_OR_OWNER,
        description='List move tasks. Without an instance filter the owner '
                    'checked is nobody, so only administrators may list '
                    'every task.',
        operations=[{'method': 'RPC', 'path': 'list_tasks'},
                    {'method': 'GET', 'path': SERVER_TASKS},
                    {'method': 'GET', 'path': '/v1/tasks'}]),
    policy.DocumentedRuleDefault(
        name='task:abort', check_str=base.ADMIN,
        description='Abort a running move before its point of no return.',
        operations=_action('abort_task', 'abort')),
    policy.DocumentedRuleDefault(
        name='task:resume', check_str=base.ADMIN,
        description='Resume a failed move from the step that failed.',
        operations=_action('resume_task', 'resume')),
    policy.DocumentedRuleDefault(
        name='task:revert', check_str=base.ADMIN,
        description='Revert a failed move that did not pass its point of no '
                    'return.',
        operations=_action('revert_task', 'revert')),
    policy.DocumentedRuleDefault(
        name='task:force_complete', check_str=base.ADMIN,
        description='Force a live migration that does not converge to '
                    'complete (post-copy).',
        operations=_action('force_complete', 'force_complete')),
    policy.DocumentedRuleDefault(
        name='task:pause', check_str=base.ADMIN,
        description='Pause a drain: no new child moves start until it is '
                    'resumed.',
        operations=_action('pause_task', 'pause')),
]


def list_rules():
    return rules
