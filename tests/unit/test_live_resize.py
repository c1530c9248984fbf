"""live-resize: derived from a request, grown in place, undone by unplug
when the guest gives the devices back, and honestly failed when not."""

import pytest

from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from tests.unit.test_requests import refused


def _world_size(cloud, name):
    vm = cloud.instance(name)
    dom = cloud.world(name)['domains'][vm['host']]
    return dom['vcpus'], dom['ram_mb']


def test_grown_in_place(cloud):
    before = cloud.instance('vm1')       # m1.small, running on host1
    doc = cloud.move('vm1', flavor='m1.wide')
    assert (doc['type'], doc['state']) == ('live-resize', 'completed'), \
        doc['reason']
    assert doc['source'] == doc['destination'] == 'host1'
    after = cloud.instance('vm1')
    assert (after['host'], after['flavor']) == ('host1', 'm1.wide')
    assert _world_size(cloud, 'vm1') == (2, 4096)
    assert cloud.world('vm1')['domains']['host1']['state'] == 'running'
    # The growth became the instance's allocation: one row, the new size.
    allocs = cloud.services.inventory.list_allocations(
        consumer_uuid=before['uuid'])
    assert [(a['host'], a['vcpus'], a['ram_mb'], a['disk_gb'])
            for a in allocs] == [('host1', 2, 4096, 20)]
    assert cloud.claims_of(doc['id']) == []
    assert [h['state'] for h in doc['history']] == [
        'accepted', 'claiming', 'pre-checking', 'hotplugging', 'verifying',
        'cleaning-up', 'completed']
    assert cloud.audit() == []


def test_claims_only_the_growth(cloud):
    cloud.services.inventory.create_host('tight', vcpus=3, ram_mb=6144,
                                         disk_gb=25, cpu_model='Cascadelake')
    from move_orchestrator import cloud as cloud_mod
    cloud_mod.boot_instance(cloud.services, 'vmt', 'tight', 'm1.small')
    # 1 vCPU / 2048 MB more fits in what is left (2 / 4096); a second copy
    # of the whole flavor (2 / 4096 + the disk) would not.
    doc = cloud.move('vmt', flavor='m1.wide', live=True)
    assert (doc['type'], doc['state']) == ('live-resize', 'completed'), \
        doc['reason']


@pytest.mark.parametrize('flavor,live,reason', [
    ('m1.medium', True, 'its disk changes'),
    ('m1.tiny', True, 'smaller than the current'),     # disk shrink first
])
def test_cannot_hotplug_refused_with_the_reason(cloud, flavor, live, reason):
    refused(cloud, exception.InvalidMoveRequest, reason, instance='vm1',
            flavor=flavor, live=live)


def test_fewer_vcpus_refused_live_and_cold_otherwise(cloud):
    inventory = cloud.services.inventory
    inventory.create_flavor('m1.narrow', 1, 1024, 20)
    vm = cloud.instance('vm1')
    inventory.update_instance(vm['uuid'], flavor='m1.wide')
    cloud.services.driver.spawn(dict(
        uuid=vm['uuid'], name='vm1', image=vm['image'], flavor='m1.wide',
        vcpus=2, ram_mb=4096, disk_gb=20), 'host1')
    inventory.release(vm['uuid'])
    inventory.claim(vm['uuid'], 'host1', {'vcpus': 2, 'ram_mb': 4096,
                                          'disk_gb': 20}, None)
    refused(cloud, exception.CannotHotplug, 'fewer than', instance='vm1',
            flavor='m1.narrow', live=True)
    doc = cloud.move('vm1', flavor='m1.narrow', destination='host3')
    assert (doc['type'], doc['state']) == ('resize', 'completed'), \
        doc['reason']


def test_over_the_guest_maximum(make_cloud):
    cloud = make_cloud(compute__hotplug_max_vcpus=1)
    refused(cloud, exception.CannotHotplug,
            r'over the guest.s maximum of 1 vCPUs \(\[compute\] '
            r'hotplug_max_vcpus\)', instance='vm1', flavor='m1.wide',
            live=True)
    doc = cloud.move('vm1', flavor='m1.wide', destination='host3')
    assert doc['type'] == 'resize'


def test_stopped_instance_refused_live(cloud):
    # vm2 is shut down.
    refused(cloud, exception.CannotHotplug, 'not running', instance='vm2',
            flavor='m1.wide', live=True)


def test_other_destination_refused_live_cold_otherwise(cloud):
    refused(cloud, exception.CannotHotplug, 'stays on its host',
            instance='vm1', flavor='m1.wide', live=True, destination='host3')
    doc = cloud.move('vm1', flavor='m1.wide', destination='host3')
    assert (doc['type'], doc['state']) == ('resize', 'completed')


def test_no_room_on_the_host(cloud):
    inventory = cloud.services.inventory
    inventory.claim('hog', 'host1', {'vcpus': 0, 'ram_mb': 32768 - 3 * 2048,
                                     'disk_gb': 0}, None)
    refused(cloud, exception.InsufficientCapacity, 'ram_mb',
            instance='vm1', flavor='m1.wide', live=True)
    doc = cloud.move('vm1', flavor='m1.wide')
    assert (doc['type'], doc['destination']) == ('resize', 'host3')


def test_live_false_is_cold(cloud):
    doc = cloud.move('vm1', flavor='m1.wide', live=False,
                     destination='host3')
    assert doc['type'] == 'resize'


@pytest.mark.parametrize('step', ['PlugVcpus', 'PlugMemory',
                                  'VerifyResize', 'UpdateInstanceHost'])
def test_guest_that_keeps_the_devices_leaves_the_move_failed(make_cloud,
                                                             step):
    cloud = make_cloud(fake_driver__guest_keeps_hotplugged=True,
                       task_faults=['%s.execute.after=fail' % step])
    doc = cloud.move('vm1', flavor='m1.wide')
    assert doc['state'] == 'failed'
    assert 'HotUnplugRefused' in doc['reason'] or \
        'the guest keeps them' in doc['reason'], doc['reason']
    # What was plugged stays, and so does the claim: the instance uses it.
    assert _world_size(cloud, 'vm1') != (1, 2048)
    assert cloud.claims_of(doc['id']) != []
    assert cloud.instance('vm1')['move_id'] == doc['id']


def test_live_resize_is_a_listed_type():
    t = move_types.get('live-resize')
    assert t.live
    assert [s.cls.__name__ for s in t.steps] == [
        'ClaimResources', 'CheckInstance', 'CheckHotplugRoom', 'PlugVcpus',
        'PlugMemory', 'VerifyResize', 'UpdateInstanceHost', 'MergeClaim']
