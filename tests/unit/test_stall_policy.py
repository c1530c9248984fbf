"""The stall policy of live migrations, on the fake driver: a copy that
stops making progress gets [live_migration] stall_actions in order, each
recorded in the task's actions with the figures that triggered it."""

import subprocess
import sys

from oslo_config import cfg
import pytest

from move_orchestrator import conf as mo_conf
from move_orchestrator.conf import validate
from move_orchestrator import faults
from move_orchestrator.steps import stall
from move_orchestrator.steps import transfer
from tests import waiting

# Stalls half-way until the throttle reaches 50 %, where auto-converge
# starts it (slow polls under load must not outlast the timeout); polled
# every 5 ms.
STALLING = dict(fake_driver__migration_steps=20, fake_driver__migration_stall_throttle=50,
                conductor__poll_interval=0.005, live_migration__progress_timeout=1.0,
                live_migration__cpu_throttle_initial=50,
                live_migration__cpu_throttle_increment=10)


def stall_actions(doc):
    return [(a['action'], a['result']) for a in doc['actions']
            if (a['detail'] or {}).get('by') == stall.BY]


def test_auto_converge_makes_it_converge(make_cloud):
    cloud = make_cloud(**STALLING)
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    assert stall_actions(doc) == [('auto-converge', 'taken')]
    detail = doc['actions'][0]['detail']
    assert detail['remaining_mb'] == detail['total_mb'] // 2
    assert (detail['throttle_pct'], detail['result']) == (0, {'initial': 50, 'increment': 10})
    assert detail['progress_timeout'] == 1.0
    migration = cloud.world('vm1')['migration']
    assert migration['throttle_pct'] >= 50 and migration['paused'] is False
    assert cloud.audit() == []


def test_not_enough_throttle_then_abort_reverts(make_cloud):
    # From 1 % by 1 % a poll of 5 ms: 99 % takes 0.5 s, the timeout 0.2 s.
    cloud = make_cloud(**dict(STALLING, fake_driver__migration_stall_throttle=99,
                              live_migration__progress_timeout=0.2,
                              live_migration__cpu_throttle_initial=1,
                              live_migration__cpu_throttle_increment=1))
    doc = cloud.move('vm1', destination='host3')
    assert (doc['state'], doc['failed_step']) == ('reverted', 'TransferMemory')
    assert 'MigrationStalled' in doc['reason'] and 'after auto_converge' in doc['reason']
    assert stall_actions(doc) == [('auto-converge', 'taken'), ('abort', 'taken')]
    assert cloud.world('vm1')['migration']['status'] == 'cancelled'
    assert cloud.instance('vm1')['host'] == 'host1'
    assert cloud.audit() == []


def test_post_copy_not_permitted_is_skipped_then_pause(make_cloud):
    cloud = make_cloud(**dict(STALLING, live_migration__stall_actions=[
        'post_copy', 'pause', 'abort']))
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    assert stall_actions(doc) == [('post-copy', 'skipped'), ('pause', 'taken')]
    migration = cloud.world('vm1')['migration']
    assert (migration['paused'], migration['postcopy']) == (True, False)
    assert cloud.world('vm1')['domains']['host3']['state'] == 'running'
    assert cloud.audit() == []


def test_post_copy_where_permitted(make_cloud):
    cloud = make_cloud(**dict(STALLING, fake_driver__permit_post_copy=True,
                              live_migration__stall_actions=['post_copy']))
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    assert stall_actions(doc) == [('post-copy', 'taken')]
    assert cloud.world('vm1')['migration']['postcopy'] is True


def test_an_abort_that_comes_as_it_converges_is_recorded_refused(
        make_cloud, monkeypatch):
    """The policy's abort reaches the host as the copy switches over: the
    cancel is refused, the move completes, and its history says the abort
    was taken and then refused, not that it happened."""
    cloud = make_cloud(**dict(STALLING, fake_driver__migration_stall_throttle=99,
                              live_migration__progress_timeout=0.2,
                              live_migration__stall_actions=['abort'],
                              fake_driver__faults=['cancel_migration=slow']))
    driver, uuid = cloud.services.driver, cloud.instances['vm1']['uuid']
    trigger = faults.trigger

    def converge_first(at, action):
        if at != 'cancel_migration':
            return trigger(at, action)
        # The guest paused dirties nothing: its next look switches over.
        driver.tune_migration(uuid, 'pause')
        assert driver.poll_migration(uuid)['status'] == 'completed'
    monkeypatch.setattr(faults, 'trigger', converge_first)

    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'completed', doc['reason']
    assert stall_actions(doc) == [('abort', 'taken'), ('abort', 'refused')]
    refused = doc['actions'][-1]['detail']
    assert refused['reason'] == stall.TOO_LATE
    assert refused['remaining_mb'] == refused['total_mb'] // 2
    assert 'reverting' not in [h['state'] for h in doc['history']]
    assert cloud.instance('vm1')['host'] == 'host3'
    assert cloud.audit() == []
    # A step run again after it counts the abort once.
    assert stall.taken_before(cloud.services.store.events(doc['id'])) == 1


def test_paused_guest_runs_again_on_the_source_when_cancelled(make_cloud):
    """A guest paused to finish its copy runs again on the source when the
    migration is cancelled before it converges. Driven by hand: with a
    conductor polling, the paused copy converges at its next poll and the
    host switches over (the abort is then too late, by design)."""
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__migration_steps=1)
    driver = cloud.services.driver
    vm = cloud.instances['vm1']
    spec = {'uuid': vm['uuid'], 'vcpus': 1, 'ram_mb': 2048, 'disk_gb': 20,
            'image': vm['image'], 'name': 'vm1', 'flavor': 'm1.small'}
    driver.prepare_incoming(spec, 'host3')
    driver.start_migration(vm['uuid'], 'host1', 'host3', migration_id='m')
    driver.tune_migration(vm['uuid'], 'pause')
    assert driver.describe(vm['uuid'])['domains']['host1']['state'] == 'paused'
    driver.cancel_migration(vm['uuid'])
    world = driver.describe(vm['uuid'])
    assert world['domains']['host1']['state'] == 'running'
    assert world['migration']['status'] == 'cancelled'


def test_force_complete_without_post_copy_pauses(make_cloud):
    cloud = make_cloud(fake_driver__migration_steps=100000, conductor__poll_interval=0.005)
    doc = cloud.api.move_instance(None, 'vm1', destination='host3')
    _wait(lambda: cloud.world('vm1')['migration'])
    cloud.api.force_complete(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=30)
    assert doc['state'] == 'completed', doc['reason']
    migration = cloud.world('vm1')['migration']
    assert (migration['paused'], migration['postcopy']) == (True, False)
    assert cloud.world('vm1')['domains']['host3']['state'] == 'running'


def _wait(predicate, timeout=30):
    return waiting.wait_for(predicate, timeout=timeout)


# -- the watch alone ---------------------------------------------------------------------
def _look(watch, now, remaining, iteration=None, total=100):
    return watch.due({'remaining_mb': remaining, 'total_mb': total,
                      'iteration': iteration}, now)


def test_passes_that_do_not_shrink_are_a_stall():
    """QEMU's remaining bytes fall within every pass and rise at the next:
    only pass sizes count, so the falls are no progress."""
    watch = stall.StallWatch(2.0, ['auto_converge', 'abort'], now=0.0)
    due = []
    for second in range(8):
        for tenth in range(10):     # 40 MB at the start of each pass, then falling
            due.append(_look(watch, second + tenth / 10, 40 - 4 * tenth, second))
    assert not any(due[:20])
    assert due[20]                  # the first look of the pass after 2 s
    assert watch.next_action(2.0) == 'auto_converge'
    assert watch.next_action(4.0) == 'abort'
    assert watch.next_action(6.0) is None
    assert not _look(watch, 9.0, 40, 9)


def test_the_pass_after_an_action_is_not_judged():
    """A pause taken at the start of pass 2 shows only at pass 4: pass 3
    carries what the guest dirtied before it stopped."""
    watch = stall.StallWatch(1.0, ['pause', 'abort'], now=0.0)
    assert not _look(watch, 0.0, 40, 1)
    assert _look(watch, 1.5, 40, 2)
    assert watch.next_action(1.5) == 'pause'
    assert not _look(watch, 2.0, 20, 2)
    assert not _look(watch, 3.0, 40, 3)     # past the timeout, but pass 3
    assert _look(watch, 4.0, 40, 4)        # still no smaller: abort is due


def test_shrinking_passes_are_progress():
    watch = stall.StallWatch(2.0, ['abort'], now=0.0)
    assert not any(_look(watch, 1.5 * n, 40 - 2 * n, n) for n in range(15))


def test_a_long_pass_that_still_sends_is_not_judged_yet():
    watch = stall.StallWatch(1.0, ['abort'], now=0.0)
    assert not _look(watch, 0.0, 40, 1)
    assert not any(_look(watch, t / 10, 40 - t / 10, 1) for t in range(1, 50))
    # ... but a pass that stands still is.
    assert not _look(watch, 5.5, 30, 1)
    assert _look(watch, 6.6, 30, 1)


def test_a_pass_with_nothing_left_to_send_is_not_stalled():
    """Sent all, it waits for the switch-over (slow on a loaded host, a
    paused guest's last pass): no action, however long."""
    watch = stall.StallWatch(1.0, ['abort'], now=0.0)
    assert not _look(watch, 0.0, 40, 1)
    assert not _look(watch, 0.5, 0.0, 1)
    assert not any(_look(watch, t / 10, 0.0, 1) for t in range(6, 50))


def test_new_passes_with_nothing_left_to_send_are_not_stalled():
    """A paused guest's copy that has sent everything still starts passes
    (QEMU's last syncs) while the switch-over comes, seconds later on a
    loaded host: none of them is a stall, none a new low past 0."""
    watch = stall.StallWatch(1.0, ['pause', 'abort'], now=0.0)
    assert not _look(watch, 0.0, 8, 4)
    assert _look(watch, 1.2, 8, 5)
    assert watch.next_action(1.2) == 'pause'
    assert not _look(watch, 1.5, 0.0, 6)    # all sent in the pass after
    assert not any(_look(watch, 2.0 + t / 2, 0.0, 7 + t) for t in range(10))


def test_noise_below_the_margin_is_no_progress():
    watch = stall.StallWatch(1.0, ['abort'], now=0.0)
    assert not _look(watch, 0.0, 40)
    assert not _look(watch, 0.5, 39.5)
    assert _look(watch, 1.1, 39.2)      # 1 % of 100 MB: 0.8 less is noise


def test_disabled_or_no_action_left():
    assert not _look(stall.StallWatch(0, ['abort'], now=0.0), 100.0, 40)
    assert not _look(stall.StallWatch(1.0, ['abort'], now=0.0, taken=1), 100.0, 40)


def test_no_action_is_due_before_the_quiet_time():
    """What lets the copy's wait go on through new passes (not waking the
    conductor where the copy converges): no look before it can be due."""
    watch = stall.StallWatch(2.0, ['auto_converge', 'abort'], now=0.0)
    assert watch.quiet_until() == 2.0
    looks = [(t / 10, 40, t // 5) for t in range(40)]  # passes of 0.5 s, none smaller
    due = [t for t, remaining, n in looks if _look(watch, t, remaining, n)]
    assert due and min(due) >= 2.0
    watch.next_action(due[0])
    assert watch.quiet_until() == due[0] + 2.0
    watch.next_action(5.0)
    assert watch.quiet_until() == float('inf')      # no action left
    assert stall.StallWatch(0, ['abort'], now=0.0).quiet_until() == float('inf')


def test_the_passes_a_wait_went_through_are_judged_in_order():
    """A wait that did not end at new passes answers them (``passes``,
    with their age): each pass is judged as if the wait had ended there,
    then the answer itself."""
    watch = stall.StallWatch(1.0, ['abort'], now=0.0)
    answer = {'remaining_mb': 30, 'total_mb': 100, 'iteration': 3, 'status': 'running',
              'passes': [{'remaining_mb': 40, 'total_mb': 100, 'iteration': 2,
                          'age': 0.7},
                         {'remaining_mb': 40, 'total_mb': 100, 'iteration': 3,
                          'age': 0.2}]}
    assert not _look(watch, 0.0, 40, 1)
    looks = list(transfer._looks(answer, now=1.5))
    assert [(look['iteration'], look['remaining_mb'], at) for look, at in looks] == [
        (2, 40, 0.8), (3, 40, 1.3), (3, 30, 1.5)]
    assert looks[0][0]['status'] == 'running'
    # Pass 2 is no smaller than pass 1, but came before the timeout;
    # pass 3, no smaller either, came after it: the action is due there.
    assert [watch.due(look, at) for look, at in looks] == [False, True, False]


# -- configuration -------------------------------------------------------------------------
def test_an_unknown_action_is_one_line(tmp_path):
    path = tmp_path / 'bad.conf'
    path.write_text('[live_migration]\nstall_actions = auto_converge, reboot\n')
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    with pytest.raises(validate.ConfigInvalid) as err:
        validate.parse(conf, ['--config-file', str(path)], default_config_files=[])
    message = str(err.value)
    assert '[live_migration] stall_actions' in message and 'reboot' in message
    assert '\n' not in message


def test_the_cli_exits_2_on_it(tmp_path):
    path = tmp_path / 'bad.conf'
    path.write_text('[live_migration]\nstall_actions = abort, pause_forever\n')
    proc = subprocess.run([sys.executable, '-m', 'move_orchestrator.cli.main',
                           '--config-file', str(path), 'task', 'list'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if 'stall_actions' in line]
    assert len(lines) == 1 and 'pause_forever' in lines[0]


def test_passes_are_counted_from_a_tenth_of_the_timeout_in():
    """The copy's first tenth of the timeout is not looked at, pass by
    pass: the pass under way when counting starts may have been seen part
    way, so the next one is the first counted. An action comes at most a
    tenth of the timeout and a pass later."""
    watch = stall.StallWatch(2.0, ['abort'], now=0.0, uncounted=0.2)
    assert not watch.counting(0.1) and watch.counting(0.2)
    assert watch.quiet_until() == 2.2
    looks = [(t / 10, 40 - t % 5, t // 5) for t in range(60)]  # passes of 0.5 s, none smaller
    due = [t for t, remaining, n in looks if _look(watch, t, remaining, n)]
    # Pass 0 began before counting, pass 1 is the first counted one's
    # predecessor (seen, maybe, part way): pass 2 (1.0 s) is the best,
    # so the first pass from 3.0 s is due.
    assert min(due) == 3.0
    counted_at_once = stall.StallWatch(2.0, ['abort'], now=0.0)
    due = [t for t, remaining, n in looks if _look(counted_at_once, t, remaining, n)]
    assert min(due) == 2.0


def test_a_watch_first_fed_once_counting_began_counts_that_pass():
    """Nothing seen before counting: the first pass seen is counted."""
    watch = stall.StallWatch(1.0, ['abort'], now=0.0, uncounted=0.1)
    assert not _look(watch, 0.5, 40, 1)
    assert not _look(watch, 1.0, 40, 2)
    assert _look(watch, 1.5, 40, 3)


def test_no_pass_is_counted_when_the_policy_is_off_or_spent():
    assert not stall.StallWatch(0, ['abort'], now=0.0).counting(100.0)
    assert not stall.StallWatch(1.0, ['abort'], now=0.0, taken=1).counting(100.0)


def test_only_a_run_after_another_counts_the_actions_taken_before(make_cloud):
    """The step's watch carries on from the actions an earlier run of the
    step took; a first run has none to find and reads no history."""
    from tests.unit import test_record_reads
    cloud = make_cloud(**STALLING)
    doc = cloud.move('vm1', destination='host3')
    assert stall_actions(doc) == [('auto-converge', 'taken')]
    step = transfer.TransferMemory(cloud.services)
    sql = test_record_reads.Statements(cloud.services.db.engine)
    assert step._watch(doc['id'], again=True).taken == 1
    assert sql.count(r'FROM move_events') == 1, sql.seen
    sql.seen.clear()
    assert step._watch(doc['id'], again=False).taken == 0
    assert sql.count(r'FROM move_events') == 0, sql.seen
