from oslo_config import cfg

GROUP = cfg.OptGroup('compute', title='Compute driver options')

OPTS = [
    cfg.StrOpt('driver', default='fake',
               help='Compute driver that moves the instances, loaded from the '
                    '"move_orchestrator.compute_drivers" entry point '
                    'namespace: "fake" (simulated hypervisors whose state '
                    'lives in the database), "qemu" (real QEMU VMs on this '
                    'machine), "rpc" (a move-orchestrator-compute agent on '
                    'each host, over oslo.messaging).'),
    # The rpc driver and the move-orchestrator-compute agent.
    cfg.StrOpt('agent_driver', default='qemu',
               help='Driver a move-orchestrator-compute agent serves for its '
                    'host ([DEFAULT] host); not "rpc".'),
    cfg.FloatOpt('rpc_timeout', default=120.0, min=1,
                 help='Seconds the rpc driver waits for an agent\'s answer.'),
    cfg.IntOpt('rpc_call_monitor_timeout', default=10, min=2,
               help='Seconds the rpc driver waits without a sign of life '
                    'from the agent working on its call (oslo.messaging\'s '
                    'call monitor: the agent sends a heartbeat every half '
                    'of it while the call runs), then gives the call up as '
                    'timed out: an agent that died with a call in hand is '
                    'noticed this soon, not after rpc_timeout. A call '
                    'waiting in the queue for an agent that restarts is '
                    'answered once it runs, if within this.'),
    cfg.FloatOpt('rpc_describe_timeout', default=5.0, min=0.1,
                 help='Seconds the rpc driver waits for each agent when it '
                      'asks every host (describe, audit); a host whose agent '
                      'does not answer in time is reported as unreachable.'),
    cfg.IntOpt('agent_vcpus', default=0, min=0,
               help='vCPUs an agent registers its host with; 0: this '
                    'machine\'s CPU count.'),
    cfg.IntOpt('agent_ram_mb', default=0, min=0,
               help='RAM (MiB) an agent registers its host with; 0: this '
                    'machine\'s memory.'),
    cfg.IntOpt('agent_disk_gb', default=100, min=1,
               help='Disk (GiB) an agent registers its host with.'),
    cfg.StrOpt('agent_cpu_model', default='qemu64',
               help='CPU model an agent registers its host with (the guests '
                    'run QEMU\'s qemu64 CPU).'),
    cfg.StrOpt('agent_storage_group',
               help='Storage group an agent registers its host with. Unset: '
                    'the one its driver knows for the host (the qemu '
                    'driver\'s [qemu] storage_groups). Set to another, the '
                    'agent refuses to start: the inventory and the driver '
                    'would disagree on which hosts share disks.'),
    # Live resize (hotplug): what every guest is started able to grow to.
    cfg.IntOpt('hotplug_max_vcpus', default=8, min=0,
               help='vCPUs a running guest can grow to by hotplug: a QEMU '
                    'guest starts with -smp N,maxcpus=<this> (or N when '
                    'bigger). A resize to more vCPUs is cold; 0: never '
                    'live.'),
    cfg.IntOpt('hotplug_max_ram_mb', default=4096, min=0,
               help='RAM (MiB) a running guest can grow to by hotplug: a '
                    'QEMU guest starts with -m size,maxmem=<this> (or its '
                    'size when bigger). A resize to more RAM is cold; 0: '
                    'never live.'),
    cfg.IntOpt('hotplug_memory_slots', default=8, min=1, max=255,
               help='Memory slots of a guest (-m slots=): each live resize '
                    'that grows the RAM takes one.'),
    cfg.FloatOpt('hot_unplug_timeout', default=5.0, min=0,
                 help='Seconds the revert of a live resize waits for the '
                      'guest to release hot-plugged memory or vCPUs before '
                      'it gives up and leaves the move failed.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
