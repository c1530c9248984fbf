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
    cfg.FloatOpt('transfer_time', default=0.0, min=0,
                 help='Seconds every transfer takes, whatever the size: a '
                      'disk copy to another host, and a live migration\'s '
                      'memory copy (which then converges this long after '
                      'it started, however often it is polled). 0: a disk '
                      'copy is instant and a migration converges after '
                      'migration_steps polls. For scale benchmarks, where '
                      'the ideal makespan is a multiple of it.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
