"""Invalid requests get a typed error and change nothing."""

import pytest

from move_orchestrator import exception


def refused(cloud, error, match=None, **request):
    before = cloud.snapshot()
    with pytest.raises(error, match=match):
        cloud.api.move_instance(None, **request)
    assert cloud.snapshot() == before


def test_unknown_instance(cloud):
    refused(cloud, exception.InstanceNotFound, instance='no-such-vm')


def test_unknown_flavor(cloud):
    refused(cloud, exception.FlavorNotFound, instance='vm1',
            flavor='m9.huge')


def test_same_flavor(cloud):
    refused(cloud, exception.InvalidMoveRequest, 'already has flavor',
            instance='vm1', flavor='m1.small')


def test_smaller_disk_refused_before_anything_is_written(cloud):
    # vm1 is m1.small (20 GB disk); m1.tiny has 1 GB.
    refused(cloud, exception.CannotResizeDisk, 'smaller than the current',
            instance='vm1', flavor='m1.tiny')
    refused(cloud, exception.CannotResizeDisk, instance='vm1',
            flavor='m1.tiny', destination='host3')


def test_same_flavor_refused_with_a_destination(cloud):
    refused(cloud, exception.InvalidMoveRequest, 'already has flavor',
            instance='vm1', flavor='m1.small', destination='host3')


@pytest.mark.parametrize('field', ['instance', 'destination', 'flavor',
                                   'request_id'])
def test_invalid_utf8_refused(cloud, field):
    request = {'instance': 'vm1', field: 'vm\udcff'}
    refused(cloud, exception.InvalidMoveRequest, 'not valid UTF-8',
            **request)


def test_unknown_destination(cloud):
    refused(cloud, exception.HostNotFound, instance='vm1',
            destination='host99')


@pytest.mark.parametrize('state', ['down', 'disabled'])
def test_destination_not_up(cloud, state):
    cloud.services.inventory.set_host_state('host3', state)
    refused(cloud, exception.HostUnavailable, state, instance='vm1',
            destination='host3')


def test_destination_full(cloud):
    inv = cloud.services.inventory
    inv.create_host('tiny', vcpus=1, ram_mb=1024, disk_gb=10,
                    cpu_model='Cascadelake')
    refused(cloud, exception.InsufficientCapacity, 'ram_mb',
            instance='vm1', destination='tiny')


def test_destination_is_source(cloud):
    refused(cloud, exception.InvalidMoveRequest, 'is the source',
            instance='vm1', destination='host1')


def test_live_move_of_stopped_instance(cloud):
    refused(cloud, exception.InstanceInvalidState, 'running',
            instance='vm2', live=True)


def test_live_resize_with_a_disk_change(cloud):
    refused(cloud, exception.CannotHotplug, 'its disk changes',
            instance='vm1', flavor='m1.medium', live=True)


def test_live_evacuate(cloud):
    cloud.services.inventory.set_host_state('host1', 'down')
    refused(cloud, exception.InvalidMoveRequest, 'cannot be live',
            instance='vm1', live=True)


def test_live_to_other_cpu_model(cloud):
    cloud.services.inventory.create_host('amd', 16, 32768, 500,
                                         cpu_model='EPYC')
    refused(cloud, exception.HostUnavailable, 'CPU model',
            instance='vm1', destination='amd', live=True)


def test_no_valid_host(cloud):
    for host in ('host2', 'host3', 'host4'):
        cloud.services.inventory.set_host_state(host, 'disabled')
    refused(cloud, exception.NoValidHost, 'host2: disabled',
            instance='vm1')


@pytest.mark.parametrize('request_', [
    {'instance': None}, {'instance': ''}, {'instance': 42},
    {'instance': 'vm1', 'live': 'yes'}, {'instance': 'vm1', 'flavor': 3},
    {'instance': 'x' * 300}, {'instance': 'vm1', 'destination': ['host3']},
])
def test_malformed(cloud, request_):
    before = cloud.snapshot()
    with pytest.raises(exception.InvalidMoveRequest):
        cloud.api.conductor.submit(request_)
    assert cloud.snapshot() == before


def test_unknown_request_key(cloud):
    before = cloud.snapshot()
    with pytest.raises(exception.InvalidMoveRequest, match='unknown keys'):
        cloud.api.conductor.submit({'instance': 'vm1', 'force': True})
    assert cloud.snapshot() == before


def test_instance_already_moving(make_cloud):
    cloud = make_cloud(fake_driver__operation_delay=0.05)
    first = cloud.api.move_instance(None, 'vm1', destination='host3')
    # The first move is writing as we go: compare what a second move would
    # have added (a move, a claim), not whole tables.
    with pytest.raises(exception.InstanceBusy, match=first['id']):
        cloud.api.move_instance(None, 'vm1', destination='host4')
    assert [t['id'] for t in cloud.api.list_tasks(None)] == [first['id']]
    consumers = {a['consumer_uuid'] for a in
                 cloud.services.inventory.list_allocations()}
    assert consumers <= {i['uuid'] for i in cloud.instances.values()} | {
        first['id']}
    assert cloud.api.wait_task(None, first['id'])['state'] == 'completed'
    # Once it has ended, the instance can move again.
    assert cloud.move('vm1', destination='host4')['state'] == 'completed'


def test_request_id_is_idempotent(cloud):
    a = cloud.api.move_instance(None, 'vm1', destination='host3',
                                request_id='req-1')
    b = cloud.api.move_instance(None, 'vm1', destination='host3',
                                request_id='req-1')
    assert a['id'] == b['id']
    cloud.api.wait_task(None, a['id'])
    assert len(cloud.api.list_tasks(None)) == 1


def test_request_id_reused_for_another_request(cloud):
    cloud.move('vm1', destination='host3', request_id='req-2')
    refused(cloud, exception.InvalidMoveRequest, 'another request',
            instance='vm2', destination='host3', request_id='req-2')
