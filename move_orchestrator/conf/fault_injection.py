from oslo_config import cfg

GROUP = cfg.OptGroup(
    'fault_injection', title='Fault injection for testing',
    help='Never set these in production: they make moves fail on purpose.')

OPTS = [
    cfg.ListOpt('task_faults', default=[],
                help='Faults injected into move sub-tasks, each '
                     '"TASK.METHOD[.WHEN]=ACTION": TASK a task class name '
                     '(ClaimDestination), METHOD "execute" or "revert", WHEN '
                     '"before" (default) or "after", ACTION "fail", '
                     '"fail_once", "hang", "slow" (2 s) or "kill" (SIGKILL of '
                     'the running process).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
