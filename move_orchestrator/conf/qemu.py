from oslo_config import cfg

GROUP = cfg.OptGroup('qemu', title='QEMU compute driver options')

OPTS = [
    cfg.StrOpt('instances_path', default='/var/lib/move-orchestrator/qemu',
               help='Directory holding one sub-directory per simulated host, '
                    'each with one directory per instance (disk, QMP socket, '
                    'serial log, pid file).'),
    cfg.StrOpt('binary', default='qemu-system-x86_64',
               help='QEMU system emulator to run.'),
    cfg.StrOpt('qemu_img', default='qemu-img',
               help='qemu-img binary used to create, copy and compare disks.'),
    cfg.StrOpt('guest_kernel', default='',
               help='Multiboot kernel the domains boot with "-kernel". Empty: '
                    'the test guest built from the project\'s source on first '
                    'use (needs binutils).'),
    cfg.FloatOpt('guest_fill_ratio', default=0.75, min=0, max=1,
                 help='Share of its RAM the built-in guest fills with data, so '
                      'that live migrations move real pages.'),
    cfg.BoolOpt('guest_dirty', default=False,
                help='The built-in guest keeps rewriting the RAM it filled: a '
                     'busy workload whose pre-copy cannot converge at a low '
                     'max_bandwidth (to try force-complete and the '
                     'completion timeout).'),
    cfg.IntOpt('ram_limit_mb', default=0, min=0,
               help='Give no domain more RAM than this (MiB), whatever its '
                    'flavor says, to run big flavors on a small machine; 0: '
                    'no limit.'),
    cfg.DictOpt('storage_groups', default={},
                help='host:group pairs. Hosts of one group share storage (one '
                     'disk file, no copy or mirror); a host not listed has '
                     'local storage. Keep in line with the inventory\'s '
                     'storage_group.'),
    cfg.IntOpt('max_bandwidth', default=0, min=0,
               help='Live migration bandwidth limit of the memory copy in '
                    'MiB/s (QEMU max-bandwidth); 0 lets QEMU go as fast as it '
                    'can. The disk mirror and post-copy are not limited.'),
    cfg.IntOpt('downtime_limit_ms', default=300, min=1,
               help='Maximum pause the final pre-copy pass may take; QEMU '
                    'converges when the remaining RAM fits in it.'),
    cfg.IntOpt('completion_timeout_per_gib', default=800, min=0,
               help='Seconds a live migration may take per GiB of RAM (and '
                    'disk, when mirrored) before completion_timeout_action is '
                    'taken, as Nova\'s live_migration_completion_timeout. 0 '
                    'disables the timeout.'),
    cfg.StrOpt('completion_timeout_action', default='abort',
               choices=['abort', 'force_complete'],
               help='What a poll does to a live migration past its '
                    'completion timeout: cancel it, or switch to post-copy '
                    '(cancel, when permit_post_copy is false).'),
    cfg.BoolOpt('permit_post_copy', default=True,
                help='Start every live migration able to switch to '
                     'post-copy (QEMU\'s postcopy-ram on both ends), so that '
                     'force-complete and the force_complete timeout action '
                     'can finish one that does not converge. It costs every '
                     'migration guest pause and time (measured here at 256 '
                     'MiB: a pause of 15-18 ms instead of 6-10 ms, and 3-15 '
                     'ms more in all), and a post-copy cut short '
                     'by a failure loses the guest, which lives on neither '
                     'host: Nova\'s live_migration_permit_post_copy is off by '
                     'default for that reason. False: force-complete is '
                     'refused.'),
    cfg.FloatOpt('operation_timeout', default=60.0, min=1,
                 help='Seconds a synchronous QEMU operation (switch-over, '
                      'power off, disk copy) may take.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
