from oslo_config import cfg

GROUP = cfg.OptGroup('qemu', title='QEMU compute driver options')

OPTS = [
    cfg.StrOpt('instances_path', default='/var/lib/move-orchestrator/qemu',
               help='Directory holding one sub-directory per simulated host, '
                    'each with one directory per instance (disk, QMP socket, '
                    'serial log, pid file).'),
    cfg.StrOpt('binary', default='qemu-system-x86_64',
               help='QEMU system emulator to run.'),
    cfg.StrOpt('tcg_threads', default='single',
               choices=[('single', 'one host thread runs every vCPU in turn'),
                        ('multi', 'a host thread per vCPU')],
               help='How QEMU\'s TCG runs a guest\'s vCPUs (QEMU -accel '
                    'tcg,thread=). Multi-threaded TCG lost guest writes during '
                    'live migrations whose vCPUs were throttled (auto-converge): '
                    'with QEMU 7.2, 11 of 181 such migrations left the '
                    'destination a stale page and its guest crashed there; none '
                    'of 76 single-threaded. Bare QMP migrations lose it too, '
                    'if rarely (1 of 280, tools/qemu_throttle_repro.py). '
                    'Multi runs a guest of several vCPUs '
                    'faster; a guest of one runs alike.'),
    cfg.StrOpt('qemu_img', default='qemu-img',
               help='qemu-img binary used to create, copy and compare disks.'),
    cfg.StrOpt('qemu_nbd', default='qemu-nbd',
               help='qemu-nbd binary that exports a disk read-only for '
                    'another host to copy (cold migration, resize).'),
    cfg.HostAddressOpt('host_address', default='127.0.0.1',
                       help='Address of this host that the other hosts reach: '
                            'its disk exports (NBD) listen on it, on a free '
                            'port, while a move copies the disk, and so does '
                            'a live migration it accepts (its memory stream, '
                            'and its disk mirror where the disk is not '
                            'shared).'),
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
    cfg.IntOpt('guest_dirty_pages', default=0, min=0,
               help='With guest_dirty: pages (4 KiB) the built-in guest '
                    'rewrites per 5 ms tick, in turn over what it filled; 0: '
                    'all of them, without a pause. A paced guest dirties '
                    'less when its vCPUs are throttled, so auto-converge can '
                    'make its migration converge.'),
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
                    'completion timeout: cancel it, or force-complete it '
                    '(post-copy where permit_post_copy allows, else pause '
                    'the guest until the copy is over).'),
    cfg.BoolOpt('permit_post_copy', default=False,
                help='Start every live migration able to switch to '
                     'post-copy (QEMU\'s postcopy-ram on both ends), so that '
                     'force-complete, the force_complete timeout action and '
                     'the stall policy\'s post_copy can finish one that does '
                     'not converge with the guest running on. Off by default, '
                     'as Nova\'s live_migration_permit_post_copy: a post-copy '
                     'cut short by a failure (a host or the network between '
                     'them) loses the guest, which then lives on neither '
                     'host, and the capability costs every migration guest '
                     'pause and time, measured here (256 MiB guest, medians): '
                     'see the live migration documentation. Without it '
                     'force-complete pauses the guest until the copy is '
                     'over, and nothing is ever at risk.'),
    cfg.FloatOpt('operation_timeout', default=60.0, min=1,
                 help='Seconds a synchronous QEMU operation (switch-over, '
                      'power off, disk copy) may take.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
