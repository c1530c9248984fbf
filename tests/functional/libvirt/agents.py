"""``move-orchestrator-compute`` agents serving the libvirt driver, one per
host, each its [libvirt] connection_uri its own daemon: for the agent tests
and the libvirt benchmark."""

from tests.functional.qemu import test_qemu_agents


class LibvirtAgent(test_qemu_agents.Agent):
    """The qemu tests' agent process, serving the libvirt driver."""

    def __init__(self, tmp_path, host, transport_url, db_url, hosts, root,
                 storage_groups=None, reach_peers=True, **libvirt_opts):
        """reach_peers false: configured as on a real host, its own
        daemon alone, saying what the others reach it by (inbound_uri)."""
        super().__init__(tmp_path, host, transport_url, db_url, root,
                         storage_groups=storage_groups)
        own = [h for h in hosts if h.name == host][0]
        groups = storage_groups or {}
        with open(self.config) as f:
            text = f.read()
        text = text.replace('agent_driver = qemu', 'agent_driver = libvirt')
        text += ('[libvirt]\nconnection_uri = %s\ninstances_path = %s\n'
                 'host_uris = %s\nmigration_addresses = %s\nstorage_groups = %s\n'
                 'inbound_uri = %s\n'
                 % (own.uri, root,
                    ','.join('%s:%s' % (h.name, h.uri) for h in hosts
                             if reach_peers),
                    ','.join('%s:127.0.0.1' % h.name for h in hosts),
                    ','.join('%s:%s' % hg for hg in sorted(groups.items())),
                    own.uri))
        text += ''.join('%s = %s\n' % kv for kv in sorted(libvirt_opts.items()))
        with open(self.config, 'w') as f:
            f.write(text)
