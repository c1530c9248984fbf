"""A rolling upgrade: this conductor drives agents of an older release.

Four agents serve the fake driver over RabbitMQ (a private virtual host),
in this process, each the agent of one demo host; the conductor here runs
moves with the ``rpc`` compute driver. An agent of an older release is our
agent whose RPC target says the version that release served: oslo.messaging
refuses anything newer, as that release's agent would.
"""

from concurrent import futures
import logging

import oslo_messaging as messaging
import pytest

from move_orchestrator import cloud as cloud_mod
from move_orchestrator.compute import agent as agent_mod
from move_orchestrator.conf import CONF
from move_orchestrator.db import moves as db_moves
from move_orchestrator.drivers import compute
from move_orchestrator.moves import types as move_types
from move_orchestrator import exception
from move_orchestrator import faults
from move_orchestrator import rpc
from tests.functional.rpc import harness as rpc_harness
from tests import harness
from tests import waiting

HOSTS = ('host1', 'host2', 'host3', 'host4')


@pytest.fixture
def make_upgrade_cloud(tmp_path):
    """factory(agent_version, cap): a seeded demo cloud whose agents serve
    agent_version (or {host: version}, the newest for the others), driven
    with [upgrade_levels] compute = cap."""
    opened = []

    def factory(agent_version, cap, **overrides):
        cloud = harness.Cloud('sqlite:///%s' % (tmp_path / 'mo.db'), seed=False,
                              compute__driver='rpc', conductor__poll_interval=0.01,
                              upgrade_levels__compute=cap, **overrides)
        vhost = rpc_harness.private_vhost()
        url = vhost.__enter__()
        cloud.override('transport_url', url, None)
        transport = rpc.get_rpc_transport(CONF, url=url)
        opened.append((cloud, vhost, transport, []))
        driver = compute.load_driver('fake', conf=CONF)
        for host in HOSTS:
            manager = agent_mod.ComputeAgentManager(host, driver,
                                                    db=cloud.services.db)
            version = (agent_version.get(host, agent_mod.VERSION)
                       if isinstance(agent_version, dict) else agent_version)
            manager.target = messaging.Target(version=version)
            server = messaging.get_rpc_server(
                transport, messaging.Target(topic=agent_mod.topic(host), server=host),
                [manager], executor='threading', serializer=rpc.RequestContextSerializer(),
                access_policy=messaging.DefaultRPCAccessPolicy)
            server.start()
            opened[-1][3].append(server)
        cloud_mod.create_demo_cloud(cloud.services)
        return cloud

    yield factory
    for cloud, vhost, transport, servers in opened:
        cloud.close()
        # Each server's stop waits out its listener's poll: all at once.
        with futures.ThreadPoolExecutor(len(HOSTS)) as pool:
            list(pool.map(_stop, servers))
        transport.cleanup()
        vhost.__exit__(None, None, None)


def _version(text):
    """'1.10' > '1.9' as versions, not as strings."""
    return tuple(int(part) for part in text.split('.'))


def _stop(server):
    server.stop()
    server.wait()


@pytest.mark.parametrize('agents,cap', [('1.0', '1.0'), ('1.1', '1.1'), ('1.2', None),
                                        ('1.3', None), ('1.4', '1.4'), ('1.6', None),
                                        ('1.7', '1.6'), ('1.7', None)])
def test_moves_through_agents_of_the_release_the_cap_names(make_upgrade_cloud, agents, cap):
    cloud = make_upgrade_cloud(agents, cap)
    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    migration = cloud.world('vm1')['migration']
    # Only an agent of 1.2 or later keeps the move's id with its migration.
    assert migration['id'] == (doc['id'] if _version(agents) >= (1, 2) else None)
    # Again along the same route, after a cold migration back: an earlier
    # migration is never taken for the move's own, id or not.
    assert cloud.move('vm1', destination='host1', live=False)['state'] == 'completed'
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    assert cloud.audit() == []


@pytest.mark.parametrize('agents,cap,learned,looking', [
    (agent_mod.VERSION, None, set(), set()),  # asked not to wake, nor look
    ('1.10', '1.10', set(), set()),     # not asked not to look: the cap
    ('1.10', None, set(), {'host1'}),   # asked not to look, refused once
    ('1.9', '1.9', set(), set()),       # not asked: the cap says 1.9
    ('1.9', None, {'host1'}, {'host1'}),  # asked, refused once, then not asked
])
def test_a_wait_through_passes_only_where_the_agent_takes_it(
        make_upgrade_cloud, agents, cap, learned, looking):
    """The copy's wait need not end at each pass (agent API 1.10), nor
    look at it before the stall policy counts passes (1.11); an older
    agent the cap does not name refuses it, and the conductor asks that
    host as before from then on."""
    cloud = make_upgrade_cloud(agents, cap)
    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    assert cloud.services.driver.waits_at_passes == learned
    assert cloud.services.driver.looks_at_passes == looking
    assert cloud.audit() == []


def test_shared_storage_without_asking_a_1_0_agent(make_upgrade_cloud):
    """A 1.0 agent cannot answer shares_storage: the storage groups the
    agents registered with the inventory say it."""
    cloud = make_upgrade_cloud('1.0', '1.0')
    driver = cloud.services.driver
    assert not driver.shares_storage('host1', 'host3')
    cloud.services.inventory.register_host('host3', vcpus=16, ram_mb=32768, disk_gb=500,
                                           cpu_model='Cascadelake', storage_group='local-host1')
    assert driver.shares_storage('host1', 'host3')


def test_shared_storage_of_a_source_marked_down(make_upgrade_cloud):
    """Its agent is not asked (it would not answer): the storage groups
    say. (Asked, the fake driver behind it would say False.)"""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None)
    driver, inventory = cloud.services.driver, cloud.services.inventory
    inventory.register_host('host3', vcpus=16, ram_mb=32768, disk_gb=500,
                            cpu_model='Cascadelake', storage_group='local-host1')
    assert driver.shares_storage('host1', 'host3') is False     # asked
    inventory.set_host_state('host1', 'down')
    assert driver.shares_storage('host1', 'host3') is True
    assert driver.shares_storage('host1', 'host2') is False


def test_an_older_agent_without_the_cap_is_named_in_the_error(make_upgrade_cloud):
    cloud = make_upgrade_cloud('1.1', None)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'reverted', doc['reason']
    assert doc['failed_step'] == 'TransferMemory'
    assert ('the compute agent of host1 is older than this conductor (start_migration '
            'needs agent API 1.2): upgrade it, or set [upgrade_levels] compute to the '
            'version it serves') in doc['reason']
    assert cloud.instance('vm1')['host'] == 'host1'
    assert cloud.audit() == []


def test_describe_host_asks_that_host_only(make_upgrade_cloud):
    """The audit and the switch-over look at one host's part of the world:
    one call to its agent, the same as that part of describe's merge."""
    cloud = make_upgrade_cloud('1.2', None)
    driver = cloud.services.driver
    uuid = cloud.instance('vm1')['uuid']
    world = driver.describe(uuid)
    for host in HOSTS:
        part = driver.describe_host(uuid, host)
        assert part == {'domains': {h: d for h, d in world['domains'].items() if h == host},
                        'disks': {h: d for h, d in world['disks'].items() if h == host},
                        'migration': None}
    assert driver.describe_host(uuid, 'host1')['domains']['host1']['state'] == 'running'
    # A host that is down is not asked.
    cloud.services.inventory.set_host_state('host2', 'down')
    with pytest.raises(exception.HostUnavailable):
        driver.describe_host(uuid, 'host2')


def test_a_deposed_conductor_changes_nothing_through_the_agents(make_upgrade_cloud):
    """The claim a conductor runs a move under travels with its calls to
    the agents; once another conductor has taken the move over, they refuse
    every change and still answer reads."""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None)
    doc = cloud.move('vm1', destination='host3')    # under its own claim
    assert doc['state'] == 'completed', doc['reason']
    uuid, driver = cloud.instance('vm1')['uuid'], cloud.services.driver
    cloud.services.store.take_claim(doc['id'], 'conductor-a')
    successor = db_moves.MoveStore(cloud.services.db, cloud.services.inventory,
                                   move_types.UNFINISHED_STATES)
    successor.take_claim(doc['id'], 'conductor-b')
    with pytest.raises(exception.ClaimLost):
        driver.power_off(uuid, 'host3')
    with pytest.raises(exception.ClaimLost):
        driver.destroy(uuid, 'host3')
    # Accepting and confirming a live migration change the host too.
    with pytest.raises(exception.ClaimLost):
        driver.accept_migration(dict(cloud.instance('vm1'), uuid=uuid), 'host2', 'host3')
    with pytest.raises(exception.ClaimLost):
        driver.confirm_incoming(uuid, 'host3')
    assert 'host2' not in driver.describe(uuid)['domains']
    world = driver.describe_host(uuid, 'host3')     # reads are served
    assert world['domains']['host3']['state'] == 'running'
    assert world['disks']['host3']
    # Under the current claim again, the same call goes through.
    cloud.services.store.take_claim(doc['id'], 'conductor-a')
    driver.power_off(uuid, 'host3')
    assert driver.describe_host(uuid, 'host3')['domains']['host3']['state'] == 'shutoff'


def test_a_host_whose_agent_is_silent_is_left_out_of_describe(make_upgrade_cloud):
    """A host marked up whose agent does not answer: describe merges the
    others' answers; asked alone, it is a typed AgentTimeout."""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None,
                               compute__rpc_describe_timeout=0.5,
                               compute__rpc_timeout=2)
    cloud.services.inventory.register_host('host5', vcpus=16, ram_mb=32768, disk_gb=500,
                                           cpu_model='Cascadelake')
    driver = cloud.services.driver
    uuid = cloud.instance('vm1')['uuid']
    assert set(driver.describe(uuid)['domains']) == {'host1'}
    with pytest.raises(exception.AgentTimeout, match='agent of host5 did not answer'):
        driver.describe_host(uuid, 'host5')


@pytest.mark.parametrize('live', [True, False])
def test_a_move_asks_only_its_own_hosts(make_upgrade_cloud, caplog, live):
    """A silent bystander is never asked (nor waited for): a move's looks
    go to its source and destination alone, whatever the cloud's size."""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None,
                               compute__rpc_describe_timeout=0.5,
                               compute__rpc_timeout=2)
    cloud.services.inventory.register_host('host5', vcpus=16, ram_mb=32768, disk_gb=500,
                                           cpu_model='Cascadelake')
    caplog.set_level(logging.INFO)
    doc = cloud.move('vm1', destination='host3', live=live)
    assert doc['state'] == 'completed', doc['reason']
    assert doc['type'] == ('live-migrate' if live else 'cold-migrate')
    assert not [r.getMessage() for r in caplog.records if 'host5' in r.getMessage()]
    # Its silence is seen where every host is asked.
    cloud.services.driver.describe(cloud.instance('vm1')['uuid'])
    assert [r for r in caplog.records if 'host5 left out' in r.getMessage()]


@pytest.mark.parametrize('agents,cap', [('1.2', '1.2'), ('1.2', None), ('1.3', None)])
def test_live_resize_needs_agents_of_1_3(make_upgrade_cloud, agents, cap):
    """Below 1.3 an agent cannot hotplug: the live resize reverts at its
    pre-check, saying why, and changes nothing."""
    cloud = make_upgrade_cloud(agents, cap)
    doc = cloud.move('vm1', flavor='m1.wide')
    assert doc['type'] == 'live-resize'
    if agents == '1.3':
        assert doc['state'] == 'completed', doc['reason']
        assert cloud.world('vm1')['domains']['host1']['vcpus'] == 2
    else:
        assert doc['state'] == 'reverted', doc['reason']
        assert doc['failed_step'] == 'CheckHotplugRoom'
        assert 'older than API 1.3' in doc['reason']
        assert cloud.world('vm1')['domains']['host1']['vcpus'] == 1
    assert cloud.audit() == []


def test_hotplug_above_the_cap_is_a_typed_error(make_upgrade_cloud):
    cloud = make_upgrade_cloud('1.2', '1.2')
    uuid = cloud.instance('vm1')['uuid']
    with pytest.raises(exception.AgentTooOld, match=r'hotplug on host1 needs compute '
                       r'agent API 1.3, above \[upgrade_levels\] compute \(1.2\)'):
        cloud.services.driver.hotplug(uuid, 'host1', vcpus=2)


# Stalls half-way until its throttle reaches 50 %, where auto-converge
# starts it: the next poll after the action converges.
STALLING = dict(fake_driver__migration_steps=20, fake_driver__migration_stall_throttle=50,
                live_migration__progress_timeout=1.0,
                live_migration__cpu_throttle_initial=50,
                live_migration__cpu_throttle_increment=10)


def test_stall_policy_through_agents(make_upgrade_cloud):
    cloud = make_upgrade_cloud(agent_mod.VERSION, None, **STALLING)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    assert [(a['action'], a['result']) for a in doc['actions']] == [
        ('auto-converge', 'taken')]
    assert doc['actions'][0]['detail']['result'] == {'initial': 50, 'increment': 10}
    assert cloud.audit() == []


def test_stall_actions_below_1_4_are_refused_by_type(make_upgrade_cloud):
    """Agents of 1.3 cannot take the stall policy's actions: the one that
    needs them is recorded failed with the agent, version and option, and
    the next timeout aborts."""
    cloud = make_upgrade_cloud('1.3', '1.3', **STALLING)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'reverted', doc['reason']
    assert [(a['action'], a['result']) for a in doc['actions']] == [
        ('auto-converge', 'failed'), ('abort', 'taken')]
    reason = doc['actions'][0]['detail']['reason']
    assert 'host1' in reason and '1.4' in reason and '[upgrade_levels] compute' in reason
    uuid = cloud.instance('vm1')['uuid']
    with pytest.raises(exception.AgentTooOld):
        cloud.services.driver.tune_migration(uuid, 'pause')
    assert cloud.audit() == []


def test_a_live_migration_from_an_agent_before_1_7_to_one_of_1_7_reverts(make_upgrade_cloud):
    """A known limit of a mixed-version route: a destination of 1.7 accepts
    the migration, and a source before 1.7 cannot take what it answered
    (AgentTooOld); the move reverts and the guest stays where it was. Set
    [upgrade_levels] compute below 1.7 until every agent serves it."""
    cloud = make_upgrade_cloud({'host1': '1.6'}, None)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'reverted', doc['reason']
    failed = [s for s in doc['subtasks'] if s['name'] == 'TransferMemory'][0]
    assert failed['error']['type'] == 'AgentTooOld'
    uuid = cloud.instance('vm1')['uuid']
    assert cloud.instance('vm1')['host'] == 'host1'
    assert list(cloud.services.driver.describe(uuid)['domains']) == ['host1']
    assert cloud.audit() == []
    # Pinned below 1.7, the same route completes.
    cloud.override('compute', '1.6', 'upgrade_levels')
    cloud.restart_conductor_driver()   # a conductor restarted with the pin
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']


def test_an_agents_typed_error_reaches_the_task_as_one_line(make_upgrade_cloud):
    """The agent's InjectedFault is raised here as its own class, not as
    oslo.messaging's subclass whose message carries the agent's traceback
    into the task's reason and the step's error."""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None,
                               fake_driver__faults='copy_disk@host3=fail')
    doc = cloud.move('vm2', destination='host3', live=False)
    assert doc['state'] == 'reverted', doc['reason']
    assert 'InjectedFault' in doc['reason'] and '\n' not in doc['reason'], \
        doc['reason']
    [step] = [s for s in doc['subtasks'] if s.get('error')]
    assert (step['name'], step['error']['type']) == ('CopyDisk', 'InjectedFault')
    assert 'Traceback' not in step['error']['message']


@pytest.mark.parametrize('action', ['force_complete', 'abort_task'])
def test_a_conductor_that_moved_the_instance_before_follows_a_later_move(
        make_upgrade_cloud, action):
    """A conductor that saw the instance's earlier migration leave host1
    takes over its next one, from host3: it asks host3's agent (the move's
    own source), for the running copy, the operator's action on it and
    the revert."""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    knew_host1 = cloud.restart_conductor_driver()
    # From here a copy stalls half-way: it ends by the operator's action.
    cloud.override('migration_stall_throttle', 90, 'fake_driver')
    doc = cloud.api.move_instance(None, 'vm1', destination='host4')
    waiting.wait_for(lambda: _progress(cloud, doc['id'], 'TransferMemory') > 0.3,
                     timeout=30, what='the copy under way')
    cloud.use_driver(knew_host1)
    getattr(cloud.api, action)(None, doc['id'])
    done = cloud.api.wait_task(None, doc['id'], timeout=30)
    if action == 'force_complete':
        assert done['state'] == 'completed', done['reason']
        assert cloud.instance('vm1')['host'] == 'host4'
    else:
        assert done['state'] == 'reverted', done['reason']
        assert cloud.instance('vm1')['host'] == 'host3'
        assert cloud.world('vm1')['migration']['status'] == 'cancelled'
    assert cloud.audit() == []


def _progress(cloud, task_id, step):
    return sum(s['progress'] for s in cloud.api.get_task(None, task_id)['subtasks']
               if s['name'] == step)


def test_a_cold_move_whose_source_goes_down_before_its_power_off_reverts(
        make_upgrade_cloud, monkeypatch):
    """The power-off cannot ask a source marked down whether its guest
    runs: it fails there (the guest may run on), and the move reverts,
    leaving the down host as it is."""
    cloud = make_upgrade_cloud(agent_mod.VERSION, None)
    source = cloud.instance('vm2')['host']
    point = 'PowerOffInstance.execute.before'
    cloud.services.task_faults = faults.parse([point + '=fail_once'])
    trigger = faults.trigger

    def source_goes_down(at, action):
        if at != point:
            return trigger(at, action)
        cloud.services.inventory.set_host_state(source, 'down')
    monkeypatch.setattr(faults, 'trigger', source_goes_down)
    doc = cloud.move('vm2', destination='host3', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'reverted'), doc['reason']
    assert doc['failed_step'] == 'PowerOffInstance'
    [step] = [s for s in doc['subtasks'] if s['name'] == 'PowerOffInstance']
    assert step['error']['type'] == 'HostUnavailable'
    assert cloud.instance('vm2')['host'] == source
