"""Every move type, end to end, with the fake hypervisor."""

import logging

import pytest

from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base


def assert_completed(cloud, doc, name, dest, flavor, power_state):
    assert doc['state'] == 'completed', doc['reason']
    inst = cloud.instance(name)
    assert (inst['host'], inst['flavor'], inst['move_id']) == (dest, flavor,
                                                               None)
    world = cloud.world(name)
    assert list(world['domains']) == [dest]
    want = 'running' if power_state == 'running' else 'shutoff'
    assert world['domains'][dest]['state'] == want
    assert world['bindings'] == {dest: True}
    assert cloud.claims_of(doc['id']) == []
    assert cloud.audit() == []


def test_live_migrate(cloud):
    doc = cloud.move('vm1', destination='host3')
    assert doc['type'] == 'live-migrate'
    assert_completed(cloud, doc, 'vm1', 'host3', 'm1.small', 'running')
    states = [h['state'] for h in doc['history']]
    assert states == ['accepted', 'claiming', 'pre-checking',
                      'preparing-destination', 'migrating-memory',
                      'switching-over', 'cleaning-up', 'completed']
    assert doc['point_of_no_return'] is True


def _copy_progress(cloud, doc):
    events = cloud.services.store.events(doc['id'])
    return [e['progress'] for e in events
            if e['name'] == 'TransferMemory' and e['state'] == 'PROGRESS']


def test_live_migrate_reports_progress(make_cloud):
    cloud = make_cloud(fake_driver__migration_steps=5,
                       live_migration__progress_report_interval=0)
    doc = cloud.move('vm1', destination='host3')
    # Each poll copies a fifth of the memory: progress climbs in steps.
    inner = [p for p in _copy_progress(cloud, doc) if 0 < p < 1]
    assert inner == sorted(inner) and len(set(inner)) >= 3


def test_a_copy_shorter_than_the_report_interval_reports_its_end(make_cloud):
    """Each report is a write made while the copy wants the cores: a copy
    of five polls (a quarter of a second) within the default interval
    writes none: its end is the step's success."""
    cloud = make_cloud(fake_driver__migration_steps=5)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed'
    assert _copy_progress(cloud, doc) == []
    steps = {s['name']: s for s in doc['subtasks']}
    assert steps['TransferMemory']['progress'] == 1.0


def test_a_short_copy_has_the_cleanup_stage_loaded_while_it_runs(
        make_cloud, caplog):
    """Loaded from the copy's start (steps/base.py UNDER_WAY), not from a
    progress report, which a copy this short does not make."""
    caplog.set_level(logging.DEBUG, logger='move_orchestrator.conductor.ahead')
    cloud = make_cloud(fake_driver__migration_steps=5)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed'
    assert _copy_progress(cloud, doc) == []
    said = [r.getMessage() for r in caplog.records
            if r.name == 'move_orchestrator.conductor.ahead']
    assert said == ['Move %s: its cleanup stage was loaded ahead' % doc['id']]


def test_live_migrate_back_along_an_earlier_route(cloud):
    """The hypervisor keeps an instance's last migration on record after it
    ends: a later move between the same hosts must start its own, not take
    the earlier one's for finished."""
    assert cloud.move('vm1', destination='host3')['state'] == 'completed'
    assert cloud.move('vm1', destination='host1', live=False)['state'] == \
        'completed'
    doc = cloud.move('vm1', destination='host3')
    assert doc['type'] == 'live-migrate'
    assert_completed(cloud, doc, 'vm1', 'host3', 'm1.small', 'running')
    assert cloud.world('vm1')['migration']['id'] == doc['id']


def test_cold_migrate_of_stopped_instance(cloud):
    doc = cloud.move('vm2', destination='host3')
    assert doc['type'] == 'cold-migrate'
    assert_completed(cloud, doc, 'vm2', 'host3', 'm1.small', 'shutdown')


def test_cold_migrate_of_running_instance_when_asked(cloud):
    doc = cloud.move('vm1', destination='host4', live=False)
    assert doc['type'] == 'cold-migrate'
    assert_completed(cloud, doc, 'vm1', 'host4', 'm1.small', 'running')


def test_resize(cloud):
    doc = cloud.move('vm3', flavor='m1.medium', destination='host4')
    assert doc['type'] == 'resize'
    assert_completed(cloud, doc, 'vm3', 'host4', 'm1.medium', 'running')
    world = cloud.world('vm3')
    assert world['domains']['host4']['vcpus'] == 2
    assert world['disks']['host4']['size_gb'] == 40
    assert 'verifying' in [h['state'] for h in doc['history']]


def test_resize_to_same_host(make_cloud):
    cloud = make_cloud(move__allow_resize_to_same_host=True)
    doc = cloud.move('vm3', flavor='m1.medium', destination='host1')
    assert_completed(cloud, doc, 'vm3', 'host1', 'm1.medium', 'running')
    assert cloud.world('vm3')['domains']['host1']['ram_mb'] == 4096


def test_resize_to_same_host_refused_by_default(cloud):
    from move_orchestrator import exception
    with pytest.raises(exception.InvalidMoveRequest,
                       match='allow_resize_to_same_host'):
        cloud.move('vm3', flavor='m1.medium', destination='host1')


def test_evacuate(cloud):
    cloud.services.inventory.set_host_state('host2', 'down')
    doc = cloud.move('vm4', destination='host3')
    assert doc['type'] == 'evacuate'
    assert_completed(cloud, doc, 'vm4', 'host3', 'm1.small', 'shutdown')
    # Rebuilt from its image on the destination.
    assert cloud.world('vm4')['disks']['host3']['image'] == 'cirros-0.6.2'


def test_scheduler_picks_a_destination(cloud):
    doc = cloud.move('vm1')
    assert doc['state'] == 'completed'
    # hosts 3 and 4 are empty, host2 has stopped instances: most free RAM.
    assert doc['destination'] in ('host3', 'host4')
    assert cloud.audit() == []


def test_many_moves_at_once(cloud):
    docs = [cloud.api.move_instance(None, name)
            for name in ('vm1', 'vm2', 'vm3', 'vm4', 'vm5', 'vm6')]
    finished = [cloud.api.wait_task(None, d['id'], timeout=60) for d in docs]
    assert [d['state'] for d in finished] == ['completed'] * 6
    assert cloud.audit() == []


def test_task_document_is_ordered_and_timed(cloud):
    doc = cloud.move('vm2', destination='host3')
    got = cloud.api.get_task(None, doc['id'])
    expected = [s.cls.__name__ for s in
                move_types.get('cold-migrate').steps]
    names = [s['name'] for s in got['subtasks'] if s['name'] != 'RetryCleanup']
    assert names == expected
    started = [s['started'] for s in got['subtasks']]
    assert started == sorted(started)
    for sub in got['subtasks']:
        assert sub['state'] == 'SUCCESS'
        assert sub['started'] <= sub['finished']
        assert sub['phase'] in types_base.PHASES
    at = [h['at'] for h in got['history']]
    assert at == sorted(at)
    import json
    json.dumps(got)  # what the API serves


def test_list_tasks_filters_and_pages(cloud):
    a = cloud.move('vm1', destination='host3')
    b = cloud.move('vm2', destination='host3')
    c = cloud.move('vm5', destination='host4', live=False)
    ids = [d['id'] for d in cloud.api.list_tasks(None)]
    assert ids == [c['id'], b['id'], a['id']]
    page1 = cloud.api.list_tasks(None, limit=2)
    page2 = cloud.api.list_tasks(None, limit=2, marker=page1[-1]['id'])
    assert [d['id'] for d in page1 + page2] == ids
    assert [d['id'] for d in cloud.api.list_tasks(None, instance='vm2')] == [
        b['id']]
    assert len(cloud.api.list_tasks(None, state='completed')) == 3
    assert cloud.api.list_tasks(None, state='failed') == []
