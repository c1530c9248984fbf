"""A live migration of a libvirt domain through ``move-orchestrator-compute``
agents: one agent per host (its [libvirt] connection_uri its own daemon),
on RabbitMQ (a private virtual host); the conductor here uses the ``rpc``
compute driver."""

from move_orchestrator import cloud as cloud_mod
from move_orchestrator.db import migration
from tests.functional.libvirt import guests
from tests.functional.qemu import test_qemu_agents
from tests.functional.rpc import harness as rpc_harness
from tests import harness


class LibvirtAgent(test_qemu_agents.Agent):
    """The qemu tests' agent process, serving the libvirt driver."""

    def __init__(self, tmp_path, host, transport_url, db_url, hosts, root):
        super().__init__(tmp_path, host, transport_url, db_url, root)
        own = [h for h in hosts if h.name == host][0]
        with open(self.config) as f:
            text = f.read()
        text = text.replace('agent_driver = qemu', 'agent_driver = libvirt')
        text += ('[libvirt]\nconnection_uri = %s\ninstances_path = %s\n'
                 'host_uris = %s\nmigration_addresses = %s\n'
                 % (own.uri, root,
                    ','.join('%s:%s' % (h.name, h.uri) for h in hosts),
                    ','.join('%s:127.0.0.1' % h.name for h in hosts)))
        with open(self.config, 'w') as f:
            f.write(text)


def test_live_migration_through_agents(make_driver, libvirt_hosts, tmp_path):
    local = make_driver()           # the same hosts, to look and clean up
    url = 'sqlite:///%s' % (tmp_path / 'mo.db')
    migration.upgrade(url)
    with rpc_harness.private_vhost() as transport_url:
        started, cloud = [], None
        try:
            for host in ('host1', 'host2'):
                started.append(LibvirtAgent(tmp_path, host, transport_url, url,
                                            libvirt_hosts, local.root).start())
            cloud = harness.Cloud(url, seed=False, compute__driver='rpc',
                                  conductor__poll_interval=0.02)
            cloud.override('transport_url', transport_url, None)
            cloud.services.inventory.create_flavor('l.small', 1, 64, 1)
            vm = cloud_mod.boot_instance(cloud.services, 'vm1', 'host1', 'l.small',
                                         image='no-image')
            guests.wait_for(lambda: len(guests.counters(local, vm['uuid'], 'host1')) > 3)
            tail = guests.SerialTail(local, vm['uuid'], 'host1')

            doc = cloud.move('vm1', destination='host2')
            assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
                doc['reason']
            guests.assert_continues(local, vm['uuid'], tail, 'host2')
            assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
            assert cloud.world('vm1')['migration']['id'] == doc['id']
            assert cloud.audit() == []
        finally:
            if cloud is not None:
                cloud.close()
            for agent in started:
                agent.stop()
