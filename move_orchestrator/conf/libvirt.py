from oslo_config import cfg

GROUP = cfg.OptGroup('libvirt', title='libvirt compute driver options')

OPTS = [
    cfg.StrOpt('connection_uri', default='qemu:///system',
               help='libvirt URI of the host\'s daemon, for a host not in '
                    'host_uris: what a compute agent uses for its own '
                    'host.'),
    cfg.DictOpt('host_uris', default={},
                help='host:URI pairs, when one process reaches several '
                     'hosts\' daemons (the embedded conductor, the tests): '
                     'e.g. host2:qemu+tcp://host2/system. A compute agent '
                     'lists none: it reaches its own host\'s daemon '
                     '([DEFAULT] host, by connection_uri) and no other.'),
    cfg.StrOpt('inbound_uri', default='',
               help='URI by which the other hosts reach this host\'s '
                    'daemon: the source\'s libvirtd for a live migration '
                    'to this host (peer to peer), the destination\'s agent '
                    'to download a disk this host exports. An agent '
                    'says it to them when it accepts either. Empty: '
                    'qemu+tcp://<[DEFAULT] host>/system (Nova\'s default '
                    'scheme), or the host\'s host_uris entry.'),
    cfg.DictOpt('migration_addresses', default={},
                help='host:address pairs: the address the memory stream of a '
                     'live migration to that host connects to (libvirt\'s '
                     'migrate_uri, tcp://ADDRESS); a host not listed is '
                     'reached by the name libvirt knows it by.'),
    cfg.StrOpt('domain_type', default='qemu', choices=('qemu', 'kvm'),
               help='Domain type: qemu (TCG, no hardware virtualisation '
                    'needed) or kvm where the hosts have /dev/kvm.'),
    cfg.StrOpt('instances_path', default='/var/lib/move-orchestrator/libvirt',
               help='Directory of one sub-directory per host with each '
                    'instance\'s disk and serial log (the hosts\' local '
                    'storage), and _shared/<group> for storage groups.'),
    cfg.DictOpt('storage_groups', default={},
                help='host:group pairs of hosts sharing storage: a live '
                     'migration between them copies no disk. Other hosts\' '
                     'disks are copied by the migration (over NBD). On a '
                     'compute agent, list every host of its group: whether a '
                     'disk is shared with another host (neither copied nor '
                     'deleted) is decided from it.'),
    cfg.StrOpt('guest_kernel', default='',
               help='Multiboot kernel the domains boot. Empty: the qemu '
                    'driver\'s test guest, built on first use (binutils).'),
    cfg.FloatOpt('guest_fill_ratio', default=0.75, min=0, max=1,
                 help='Share of its RAM the built-in guest fills with data.'),
    cfg.IntOpt('max_bandwidth', default=0, min=0,
               help='Live migration bandwidth limit in MiB/s (libvirt\'s '
                    'bandwidth parameter); 0: no limit.'),
    cfg.IntOpt('downtime_limit_ms', default=0, min=0,
               help='Maximum pause the final pre-copy pass may take, in ms '
                    '(as [qemu] downtime_limit_ms, Nova\'s '
                    'live_migration_downtime): QEMU converges when the '
                    'remaining RAM fits in it. Set on each live migration '
                    'once libvirt runs it. 0: libvirt\'s own (QEMU\'s '
                    'default, 300 ms).'),
    cfg.BoolOpt('permit_post_copy', default=False,
                help='Start live migrations with VIR_MIGRATE_POSTCOPY so '
                     'force-complete can switch to post-copy; without it '
                     'force-complete suspends the guest until the copy ends.'),
    cfg.IntOpt('keepalive_interval', default=5, min=1,
               help='Seconds a daemon may say nothing before this process '
                    'asks whether it is alive (libvirt\'s keepalive; the '
                    'driver runs libvirt\'s event loop, which sends it).'),
    cfg.IntOpt('keepalive_count', default=5, min=1,
               help='Keepalive questions a daemon may leave unanswered: '
                    'then its connection is closed, and a call waiting on '
                    'it fails instead of waiting for ever (a hung daemon, '
                    'an unreachable host). Defaults: 5 and 5, libvirt\'s '
                    'own, about 30 s.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
