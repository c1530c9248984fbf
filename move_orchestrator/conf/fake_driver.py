from oslo_config import cfg

GROUP = cfg.OptGroup('fake_driver', title='Fake compute driver options')

OPTS = [
    cfg.FloatOpt('operation_delay', default=0.0, min=0,
                 help='Seconds added to every driver operation.'),
    cfg.ListOpt('faults', default=[],
                help='Faults injected into driver operations, each '
                     '"OPERATION[@HOST]=fail|fail_once|hang|kill|slow", '
                     'for example "copy_disk@host2=fail". "hang" blocks the '
                     'operation until the process is stopped, "slow" delays '
                     'it by 2 s.'),
    cfg.IntOpt('migration_steps', default=4, min=1,
               help='Polls a simulated live migration takes to converge.'),
    cfg.BoolOpt('record_operations', default=False,
                help='Record every operation on an instance with its start '
                     'and end (table fake_operations), flagging any that '
                     'overlapped another on the same instance: two '
                     'conductors running one move at once. For tests; one '
                     'more commit per operation.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
