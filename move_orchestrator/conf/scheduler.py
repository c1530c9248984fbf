from oslo_config import cfg

GROUP = cfg.OptGroup('scheduler', title='Destination selection options')

OPTS = [
    cfg.FloatOpt('cpu_allocation_ratio', default=1.0, min=0.1,
                 help='Virtual CPUs allocatable per physical CPU.'),
    cfg.FloatOpt('ram_allocation_ratio', default=1.0, min=0.1,
                 help='RAM allocatable per MB of host RAM.'),
    cfg.FloatOpt('disk_allocation_ratio', default=1.0, min=0.1,
                 help='Disk allocatable per GB of host disk.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
