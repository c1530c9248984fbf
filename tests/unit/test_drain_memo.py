"""The drain watch's memo (Drains._elsewhere, conductor/drains.py).

A failed drain's reverted child whose instance another move took off the
host is not failed again: the watch reads where the instance is and
records it once. The memo keeps, per drain, the children seen moved
elsewhere, so the watch (several looks a second) reads that once. These
tests show the reads it saves, and that the drain decides as it would
without it when what the memo could know has changed. Only the test
thread ticks: the cloud's own watch is stopped once the scenario is set.
"""

import re
import sys
import threading
import time

import sqlalchemy as sa

from move_orchestrator.conductor import drains as drains_mod
from move_orchestrator import faults
from move_orchestrator import states

_FROM = re.compile(r'\bFROM\s+"?(\w+)', re.IGNORECASE)


def tick_reads(cloud, watch):
    """Tick once; the tables its SELECTs read, in order. Counted on the
    services' engine in this thread only: moves running meanwhile in the
    conductor's pool are not the watch's reads."""
    me = threading.get_ident()
    read = []

    def seen(conn, cursor, statement, *args):
        if threading.get_ident() == me and \
                statement.lstrip().upper().startswith('SELECT'):
            read.append(_FROM.search(statement).group(1))

    engine = cloud.services.db.engine
    sa.event.listen(engine, 'before_cursor_execute', seen)
    try:
        watch.tick()
    finally:
        sa.event.remove(engine, 'before_cursor_execute', seen)
    return read


def stop_background_watch(cloud):
    """From here only the test ticks, so the watch under test decides."""
    cloud.api.conductor.claims.stop()
    for thread in threading.enumerate():
        if thread.name == 'move-watcher':
            thread.join(10)


def new_watch(cloud):
    """A conductor's watch of the cloud's database, with a memo of its
    own: one that starts now, or another conductor's."""
    conductor = cloud.api.conductor
    return drains_mod.Drains(cloud.services, abort_move=conductor.abort,
                             resume_move=conductor.resume,
                             post_move=conductor.claims.posted)


def failed_drain(make_cloud, fault='prepare_incoming@host3=fail_once'):
    """host1's drain, failed on one child that reverted (its instance
    is still on host1); the cloud's watch stopped. (cloud, id, child)."""
    cloud = make_cloud(driver_faults=[fault])
    drain = cloud.api.drain_host(None, 'host1')
    doc = cloud.api.wait_task(None, drain['id'], timeout=60)
    assert doc['state'] == states.FAILED, doc
    cloud.api.conductor.wait_all(timeout=60)
    stop_background_watch(cloud)
    [child] = [c for c in doc['children'] if c['state'] == states.REVERTED]
    assert cloud.instance(child['instance'])['host'] == 'host1'
    return cloud, drain['id'], child


def move(cloud, instance, host):
    """Another move (an operator's) takes the instance to host."""
    assert cloud.move(instance, destination=host)['state'] == \
        states.COMPLETED
    assert cloud.instance(instance)['host'] == host


def document(cloud, drain_id):
    return cloud.api.get_task(None, drain_id)


def watch_until_ended(cloud, watch, drain_id, timeout=60):
    """Tick the watch under test (and let the children it makes run)
    until the drain ends; its document."""
    conductor = cloud.api.conductor
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch.tick()
        # What the stopped watch would start: the children the limits
        # let run (claims.take_up, without its tick of the drains).
        for move in conductor.admit(cloud.services,
                                    cloud.services.store.list_unfinished()):
            if move['state'] == states.ACCEPTED:
                conductor.schedule(move['id'])
        conductor.wait_all(timeout=timeout)
        doc = document(cloud, drain_id)
        if doc['state'] in states.TERMINAL_STATES:
            return doc
        time.sleep(0.01)
    raise AssertionError('drain still %s' % document(cloud, drain_id))


# -- the reads it saves ------------------------------------------------------
def test_a_child_seen_moved_elsewhere_is_not_read_again(make_cloud):
    """The first look reads the instance and the drain's events (and
    records where it went); every later look reads only the drains and
    their children, as for a drain with nothing to look up."""
    cloud, drain_id, child = failed_drain(make_cloud)
    move(cloud, child['instance'], 'host2')
    watch = new_watch(cloud)
    first = tick_reads(cloud, watch)
    assert first == ['drains', 'moves', 'instances', 'drain_events'], first
    for _ in range(3):
        assert tick_reads(cloud, watch) == ['drains', 'moves']
    doc = document(cloud, drain_id)
    assert doc['state'] == states.FAILED    # until an operator resumes it
    assert doc['moved_elsewhere'] == [{
        'instance': child['instance'], 'child': child['id'],
        'host': 'host2'}]
    assert doc['progress']['moved_elsewhere'] == 1


def test_an_instance_still_on_the_host_is_looked_at_every_time(make_cloud):
    """Only "moved elsewhere" is kept: an instance still on the host may
    be taken off it by another move at any time, so each look reads it,
    and the look after the move counts the child as moved elsewhere."""
    cloud, drain_id, child = failed_drain(make_cloud)
    watch = new_watch(cloud)
    for _ in range(2):
        assert tick_reads(cloud, watch) == ['drains', 'moves', 'instances']
    assert document(cloud, drain_id)['moved_elsewhere'] == []
    move(cloud, child['instance'], 'host2')
    assert 'drain_events' in tick_reads(cloud, watch)
    assert document(cloud, drain_id)['moved_elsewhere'] == [{
        'instance': child['instance'], 'child': child['id'],
        'host': 'host2'}]
    cloud.api.resume_task(None, drain_id)
    doc = watch_until_ended(cloud, watch, drain_id)
    assert doc['state'] == states.COMPLETED, doc
    assert [c['id'] for c in doc['children']
            if c['instance'] == child['instance']] == [child['id']]
    assert cloud.services.inventory.list_instances(host='host1') == []


# -- when what it knows may have changed -------------------------------------
def test_a_new_drain_of_the_host_decides_on_its_own_children(make_cloud):
    """The memo is of children, not of instances: an instance that moved
    elsewhere during one drain and came back is moved by the next drain
    of its host, and a child of that drain that reverts fails it."""
    cloud, first, child = failed_drain(make_cloud,
                                       fault='prepare_incoming=fail_once')
    instance = child['instance']
    move(cloud, instance, 'host2')
    watch = new_watch(cloud)
    watch.tick()                        # seen moved elsewhere
    cloud.api.resume_task(None, first)
    assert watch_until_ended(cloud, watch, first)['state'] == \
        states.COMPLETED
    # The operator brings it back to host1, then drains host1 again.
    cloud.api.set_host_state(None, 'host1', 'up')
    move(cloud, instance, 'host1')
    faults.reset()                      # its next move fails once more
    second = watch.create('host1')['id']
    doc = watch_until_ended(cloud, watch, second)
    assert doc['state'] == states.FAILED, doc
    [retry] = doc['children']
    assert retry['instance'] == instance and \
        retry['state'] == states.REVERTED
    assert doc['reason'] == 'child %s failed; resume the drain to retry' \
        % retry['id']
    assert doc['moved_elsewhere'] == []
    assert cloud.instance(instance)['host'] == 'host1'


def test_another_conductor_sees_what_one_recorded(make_cloud):
    """Two conductors' watches, each with its own memo, tick the drain:
    the one that looks second finds the event recorded and adds none;
    both then carry the resumed drain to the same end."""
    cloud, drain_id, child = failed_drain(make_cloud)
    move(cloud, child['instance'], 'host2')
    one, other = new_watch(cloud), new_watch(cloud)
    one.tick()                          # records it
    assert 'drain_events' in tick_reads(cloud, other)   # finds it
    one.tick()
    other.tick()
    events = cloud.services.drains.events_of([drain_id])[drain_id]
    assert [e['name'] for e in events if e['kind'] == 'child'] == [
        'moved-elsewhere']
    cloud.api.resume_task(None, drain_id)
    other.tick()
    doc = watch_until_ended(cloud, one, drain_id)
    assert doc['state'] == states.COMPLETED, doc
    assert doc['progress']['moved_elsewhere'] == 1
    assert len(doc['moved_elsewhere']) == 1


# -- when it is dropped ------------------------------------------------------
def ended_drain_in_memo(make_cloud):
    """A drain that completed with a child moved elsewhere, still in the
    memo of the watch that finished it (the next look drops it)."""
    cloud, drain_id, child = failed_drain(make_cloud)
    move(cloud, child['instance'], 'host2')
    watch = new_watch(cloud)
    watch.tick()
    cloud.api.resume_task(None, drain_id)
    assert watch_until_ended(cloud, watch, drain_id)['state'] == \
        states.COMPLETED
    assert watch._elsewhere == {drain_id: {child['id']}}
    return cloud, watch


def test_an_ended_drain_leaves_the_memo(make_cloud):
    """The memo holds unfinished drains only: it does not grow with every
    drain a long-lived conductor has seen."""
    cloud, watch = ended_drain_in_memo(make_cloud)
    assert tick_reads(cloud, watch) == ['drains']
    assert watch._elsewhere == {}


def test_two_looks_at_once_both_drop_an_ended_drain(make_cloud):
    """A conductor ticks from its watch thread and from an operator's
    call (drain_host: resume_unfinished, take_up) at once: both may drop
    the same ended drain from the memo, and neither may fail for it.
    The first look is held, by a trace function, between choosing what to
    drop and dropping it, while the second one runs."""
    cloud, watch = ended_drain_in_memo(make_cloud)
    chosen, dropped = threading.Event(), threading.Event()
    errors = []

    def trace(frame, event, arg):
        if frame.f_code is not drains_mod.Drains.tick.__code__:
            return None

        def line(frame, event, arg):
            if event == 'line' and 'gone' in frame.f_locals and \
                    not chosen.is_set():
                chosen.set()
                dropped.wait(10)
            return line
        return line

    def first_look():
        sys.settrace(trace)
        try:
            watch.tick()
        except Exception as exc:
            errors.append(exc)
        finally:
            sys.settrace(None)

    looking = threading.Thread(target=first_look)
    looking.start()
    assert chosen.wait(10)
    try:
        watch.tick()
    finally:
        dropped.set()
        looking.join(10)
    assert errors == []
    assert watch._elsewhere == {}
