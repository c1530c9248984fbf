from oslo_config import cfg

GROUP = cfg.OptGroup('fake_driver', title='Fake compute driver options')

OPTS = [
    cfg.FloatOpt('operation_delay', default=0.0, min=0,
                 help='Seconds added to every driver operation.'),
    cfg.ListOpt('faults', default=[],
                help='Faults injected into driver operations, each '
                     '"OPERATION[@HOST]=fail|fail_once|hang|kill|slow", '
                     'for example "copy_disk@host2=fail" (a disk copy, which '
                     'import_disk on the destination or resize_disk in place '
                     'makes). "hang" blocks the '
                     'operation until the process is stopped, "slow" delays '
                     'it by 2 s.'),
    cfg.IntOpt('migration_steps', default=4, min=1,
               help='Polls a simulated live migration takes to converge: '
                    'one per simulated pass, which the fake answers within '
                    '0.05 s whatever [conductor] poll_interval.'),
    cfg.IntOpt('migration_stall_throttle', default=0, min=0, max=99,
               help='A simulated live migration stalls half-way (its '
                    'remaining bytes stop falling, as with a guest that '
                    'dirties memory faster than it is sent) until its CPU '
                    'throttle (the stall policy\'s auto_converge) reaches '
                    'this percentage, or its guest is paused; 0: it never '
                    'stalls.'),
    cfg.BoolOpt('permit_post_copy', default=False,
                help='Simulated migrations can switch to post-copy, as the '
                     'qemu driver\'s [qemu] permit_post_copy; else '
                     'force-complete pauses the guest.'),
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
    cfg.BoolOpt('guest_keeps_hotplugged', default=False,
                help='Simulate a guest that does not give hot-plugged vCPUs '
                     'and memory back (as a guest without an OS, or one '
                     'that onlined the memory): hot_unplug is refused.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
