"""A compute agent's registration of its host, on the demo cloud.

The agent serves the fake driver here and is not started (no RPC): only
what it writes to the inventory when it starts is looked at.
"""

import logging

import pytest
import sqlalchemy as sa

from move_orchestrator.compute import agent as agent_mod
from move_orchestrator.conf import CONF
from move_orchestrator import context as mo_context
from move_orchestrator.db import inventory as inv
from move_orchestrator.db import migration
from move_orchestrator.db import session as db_session
from move_orchestrator import exception

# Demo hosts: 16 vCPUs, 32768 MiB, 500 GiB, Cascadelake, group local-hostN.
SEEDED = {'vcpus': 16, 'ram_mb': 32768, 'disk_gb': 500,
          'cpu_model': 'Cascadelake'}


def register(cloud, host, caplog, **agent_opts):
    """Start-up registration of host's agent; its host and its INFO log."""
    cloud.override('host', host, None)
    cloud.override('agent_driver', 'fake', 'compute')
    opts = dict(SEEDED, storage_group='local-%s' % host)
    opts.update(agent_opts)
    for name, value in opts.items():
        cloud.override('agent_%s' % name, value, 'compute')
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=agent_mod.__name__):
        registered = agent_mod.ComputeAgent(CONF).register()
    return registered, [r.getMessage() for r in caplog.records
                        if r.name == agent_mod.__name__]


def test_restarted_agent_updates_its_host_and_keeps_disabled(cloud, caplog):
    inventory = cloud.services.inventory
    allocations = inventory.list_allocations(host='host1')
    assert allocations      # demo instances live there
    inventory.set_host_state('host1', 'disabled')      # an operator's drain

    host, log = register(cloud, 'host1', caplog, vcpus=32, ram_mb=65536,
                         cpu_model='Icelake', storage_group='shared-a')
    assert host == {'name': 'host1', 'state': 'disabled', 'vcpus': 32,
                    'ram_mb': 65536, 'disk_gb': 500, 'cpu_model': 'Icelake',
                    'storage_group': 'shared-a'}
    assert inventory.get_host('host1') == host
    assert inventory.list_allocations(host='host1') == allocations
    assert ('Host host1 updated in the inventory: cpu_model Cascadelake -> '
            'Icelake, ram_mb 32768 -> 65536, storage_group local-host1 -> '
            'shared-a, vcpus 16 -> 32') in log
    assert 'Host host1 stays disabled' in log
    # The other hosts are not the agent's to change.
    assert {k: v for k, v in inventory.get_host('host2').items()
            if k in SEEDED} == SEEDED
    assert cloud.audit() == []


@pytest.mark.parametrize('before,after', [('down', 'up'), ('up', 'up')])
def test_restarted_agent_with_the_same_host(cloud, caplog, before, after):
    cloud.services.inventory.set_host_state('host2', before)
    host, log = register(cloud, 'host2', caplog)
    assert host == dict(SEEDED, name='host2', state=after,
                        storage_group='local-host2')
    assert log == (['Host host2 updated in the inventory: state down -> up']
                   if before == 'down' else
                   ['Host host2 is in the inventory, unchanged'])


def test_a_drained_host_that_went_down_comes_back_drained(cloud, caplog):
    """Disabled (drained), then down (dead, its instances evacuated): when
    its agent comes back the drain holds; only an operator's up lifts it."""
    inventory = cloud.services.inventory
    inventory.set_host_state('host2', 'disabled')
    assert inventory.down_hosts() == []
    inventory.set_host_state('host2', 'down')
    assert inventory.get_host('host2')['state'] == 'down'
    assert inventory.down_hosts() == ['host2']
    host, log = register(cloud, 'host2', caplog)
    assert inventory.down_hosts() == []
    assert host['state'] == 'disabled'
    assert log == ['Host host2 updated in the inventory: state down -> disabled',
                   'Host host2 stays disabled']
    inventory.set_host_state('host2', 'up')
    inventory.set_host_state('host2', 'down')
    host, _log = register(cloud, 'host2', caplog)
    assert host['state'] == 'up'


def test_a_disabled_host_of_the_one_column_schema_stays_disabled(tmp_path):
    """Before migration 004 a host's drain was its state; after it, the
    drain is the disabled flag and the host still shows disabled."""
    url = 'sqlite:///%s' % (tmp_path / 'old.db')
    migration.upgrade(url, '003')
    with db_session.get_database(url).engine.begin() as conn:
        for name, state in (('h1', 'disabled'), ('h2', 'down'), ('h3', 'up')):
            conn.execute(sa.text(
                "INSERT INTO hosts (name, state, vcpus, ram_mb, disk_gb, cpu_model, "
                "created_at, updated_at) VALUES (:n, :s, 1, 1, 1, 'x', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {'n': name, 's': state})
    migration.upgrade(url)
    hosts = inv.Inventory(db_session.get_database(url)).list_hosts()
    assert [(h['name'], h['state']) for h in hosts] == [
        ('h1', 'disabled'), ('h2', 'down'), ('h3', 'up')]
    db_session.reset()


def test_agent_takes_its_storage_group_from_its_driver(cloud, caplog, tmp_path):
    """One setting: the qemu driver's [qemu] storage_groups says the group;
    an agent_storage_group that contradicts it stops the agent, and the
    inventory is left as it was."""
    cloud.override('instances_path', str(tmp_path / 'q'), 'qemu')
    cloud.override('storage_groups', {'host1': 'rack-a'}, 'qemu')
    register(cloud, 'host1', caplog, storage_group=None)   # the agent's options
    cloud.override('agent_driver', 'qemu', 'compute')
    cloud.override('agent_storage_group', None, 'compute')
    host = agent_mod.ComputeAgent(CONF).register()
    assert host['storage_group'] == 'rack-a'

    before = cloud.snapshot()
    cloud.override('agent_storage_group', 'rack-b', 'compute')
    with pytest.raises(exception.Invalid, match='rack-b and the driver.s storage '
                       'group rack-a of host1 differ'):
        agent_mod.ComputeAgent(CONF).register()
    assert cloud.snapshot() == before


def test_new_agent_registers_its_host(cloud, caplog):
    host, log = register(cloud, 'host9', caplog, storage_group=None)
    assert host == dict(SEEDED, name='host9', state='up', storage_group=None)
    assert log == ['Host host9 registered with the inventory']


@pytest.mark.parametrize('timeout', [-1, 31, '5', None, True])
def test_wait_migration_refuses_a_bad_timeout(cloud, timeout):
    """A malformed wait cannot hold an agent's thread: refused before any wait."""
    manager = agent_mod.ComputeAgentManager('host1', cloud.services.driver)
    with pytest.raises(exception.Invalid):
        manager.wait_migration(None, 'no-such-instance', timeout)


@pytest.mark.parametrize('wake_at_pass', [0, 'no', None])
def test_wait_migration_refuses_a_bad_wake_at_pass(cloud, wake_at_pass):
    manager = agent_mod.ComputeAgentManager('host1', cloud.services.driver)
    with pytest.raises(exception.Invalid, match='wake_at_pass'):
        manager.wait_migration(None, 'no-such-instance', 0, wake_at_pass)


@pytest.mark.parametrize('look_at_passes', [0, 'no', None])
def test_wait_migration_refuses_a_bad_look_at_passes(cloud, look_at_passes):
    manager = agent_mod.ComputeAgentManager('host1', cloud.services.driver)
    with pytest.raises(exception.Invalid, match='look_at_passes'):
        manager.wait_migration(None, 'no-such-instance', 0, False,
                               look_at_passes)


def test_wait_migration_of_no_migration_answers_none(cloud):
    manager = agent_mod.ComputeAgentManager('host1', cloud.services.driver)
    vm = cloud.services.inventory.get_instance('vm1')
    assert manager.wait_migration(None, vm['uuid'], 0) is None


@pytest.mark.parametrize('claim', ['abc', {'move': 'm'}, {'move': 'm', 'generation': 'x'}])
def test_a_malformed_claim_changes_nothing(cloud, claim):
    manager = agent_mod.ComputeAgentManager('host1', cloud.services.driver,
                                            db=cloud.services.db)
    ctxt = mo_context.get_admin_context()
    ctxt.claim = claim
    vm = cloud.services.inventory.get_instance('vm1')
    before = cloud.snapshot()
    with pytest.raises(exception.Invalid, match='malformed claim'):
        manager.power_off(ctxt, instance_uuid=vm['uuid'], host='host1')
    assert cloud.snapshot() == before


def test_a_claim_on_no_move_is_lost(cloud):
    manager = agent_mod.ComputeAgentManager('host1', cloud.services.driver,
                                            db=cloud.services.db)
    ctxt = mo_context.get_admin_context()
    ctxt.claim = {'move': 'no-such-move', 'generation': 1}
    vm = cloud.services.inventory.get_instance('vm1')
    with pytest.raises(exception.ClaimLost):
        manager.power_off(ctxt, instance_uuid=vm['uuid'], host='host1')
    assert cloud.world('vm1')['domains']['host1']['state'] == 'running'
