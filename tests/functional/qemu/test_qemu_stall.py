"""The stall policy with real QEMU: a migration that does not converge gets
[live_migration] stall_actions, each recorded in the task with its figures.

The paced guest (``guest_dirty_pages``) rewrites 16 of its 2048 filled pages
per 5 ms tick: more than the 8 MiB/s the copy may send, so it never
converges on its own, but its dirtying slows down with its vCPU, so QEMU's
CPU throttle (auto-converge) makes it converge.
"""

import pytest

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base
from move_orchestrator import exception
from tests.functional.qemu import guests
from tests.functional.qemu import domains


def paced_cloud(make_cloud, **overrides):
    opts = dict(qemu__guest_dirty=True, qemu__guest_dirty_pages=16,
                qemu__guest_fill_ratio=0.125, qemu__max_bandwidth=8,
                qemu__downtime_limit_ms=20, live_migration__progress_timeout=5.0,
                # 80 %: the paced guest then dirties about 1000 pages a
                # second, half what is sent (QEMU raises the throttle every
                # other pass, about 2 s: a higher start converges sooner).
                live_migration__cpu_throttle_initial=80,
                live_migration__cpu_throttle_increment=10)
    opts.update(overrides)
    return make_cloud(**opts)


def stall_actions(doc):
    return [a for a in doc['actions'] if (a['detail'] or {}).get('by') == 'stall policy']


def test_auto_converge_without_post_copy(make_cloud):
    # auto_converge alone: on a loaded machine the throttle may need more
    # than the 5 s timeout to bite (QEMU raises it pass after pass), and the
    # point here is that it does, not how fast.
    cloud = paced_cloud(make_cloud, live_migration__stall_actions=['auto_converge'])
    vm, _reference = guests.boot(cloud, 'vm1')
    # Multi-threaded TCG lost guest writes under the throttle: 11 of 181
    # runs, the guest crashed on the destination right after its
    # RESUME (a stale stack page; [qemu] tcg_threads). Single by default.
    [(_pid, cmdline)] = guests.qemu_pids(cloud, vm)
    assert b'tcg,thread=single' in cmdline
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.move('vm1', destination='host2', timeout=120)
    assert doc['state'] == 'completed', doc['reason']
    [taken] = stall_actions(doc)
    assert (taken['action'], taken['result']) == ('auto-converge', 'taken')
    figures = taken['detail']
    # What triggered it: a copy standing still, the guest dirtying it
    # faster than it is sent, and no throttle yet.
    assert figures['progress_timeout'] == 5.0
    assert 1 < figures['remaining_mb'] < figures['total_mb']
    assert figures['dirty_rate_mb_s'] > 4 and figures['bandwidth_mb_s'] > 4
    assert figures['throttle_pct'] == 0 and figures['iteration'] > 2
    assert figures['result'] == {'initial': 80, 'increment': 10}
    migration = cloud.world('vm1')['migration']
    assert migration['status'] == base.MIGRATION_COMPLETED
    assert (migration['postcopy'], migration['paused']) == (False, False)
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')


def test_abort_action_reverts(make_cloud):
    cloud = guests.dirty_cloud(make_cloud, live_migration__progress_timeout=1.0,
                               live_migration__stall_actions=['abort'])
    vm, _reference = guests.boot(cloud, 'vm1')
    doc = cloud.move('vm1', destination='host2')
    assert (doc['state'], doc['failed_step']) == ('reverted', 'TransferMemory'), doc['reason']
    assert 'stall_actions' in doc['reason'] and 'no new low' in doc['reason']
    [taken] = stall_actions(doc)
    assert (taken['action'], taken['result']) == ('abort', 'taken')
    assert taken['detail']['remaining_mb'] > 0
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_CANCELLED
    guests.assert_runs_only_on(cloud, vm, 'host1')


def test_post_copy_not_permitted_is_skipped_for_pause(make_cloud):
    cloud = guests.dirty_cloud(make_cloud, live_migration__progress_timeout=1.0,
                               live_migration__stall_actions=['post_copy', 'pause',
                                                              'abort'])
    vm, _reference = guests.boot(cloud, 'vm1')
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.move('vm1', destination='host2')
    assert doc['state'] == 'completed', doc['reason']
    assert [(a['action'], a['result']) for a in stall_actions(doc)] == [
        ('post-copy', 'skipped'), ('pause', 'taken')]
    migration = cloud.world('vm1')['migration']
    assert (migration['postcopy'], migration['paused']) == (False, True)
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')


def test_paused_guest_resumes_on_the_source_when_cancelled(make_driver):
    driver = make_driver(max_bandwidth=8, downtime_limit_ms=20)
    spec = domains.boot(driver, dirty=True, fill_mb=8)
    choreography.prepare_incoming(driver, spec, 'h1', 'h2')
    driver.start_migration(spec['uuid'], 'h1', 'h2')
    caps = {c['capability']: c['state'] for c in _query(driver, spec, 'h1',
                                                        'query-migrate-capabilities')}
    assert (caps['auto-converge'], caps['postcopy-ram']) == (True, False)
    params = _query(driver, spec, 'h1', 'query-migrate-parameters')
    # auto-converge is on, its throttle held until the policy lifts it.
    assert (params['max-cpu-throttle'], params['throttle-trigger-threshold']) == (1, 100)
    with pytest.raises(exception.DriverError, match='permit_post_copy'):
        driver.tune_migration(spec['uuid'], base.TUNE_POST_COPY)
    with pytest.raises(exception.DriverError, match='percentage'):
        driver.tune_migration(spec['uuid'], base.TUNE_AUTO_CONVERGE, {'initial': 0})
    assert driver.tune_migration(spec['uuid'], base.TUNE_AUTO_CONVERGE,
                                 {'initial': 30, 'increment': 5}) == {
        'initial': 30, 'increment': 5}
    params = _query(driver, spec, 'h1', 'query-migrate-parameters')
    assert (params['cpu-throttle-initial'], params['cpu-throttle-increment'],
            params['max-cpu-throttle']) == (30, 5, 99)

    assert driver.tune_migration(spec['uuid'], base.TUNE_PAUSE) == {'paused': True}
    assert domains.state(driver, spec, 'h1') == base.PAUSED
    assert driver.poll_migration(spec['uuid'])['paused'] is True
    assert driver.cancel_migration(spec['uuid']) is True
    assert domains.state(driver, spec, 'h1') == base.RUNNING
    domains.prints_again(driver, spec, 'h1')
    driver.destroy(spec['uuid'], 'h2')
    driver.delete_disk(spec['uuid'], 'h2')


def _query(driver, spec, host, command):
    dom = driver._domain(spec['uuid'], host)
    with dom.qmp() as q:
        return q.execute(command)
