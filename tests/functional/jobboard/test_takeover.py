"""Conductors behind a jobboard: a dead, stopped or crippled conductor's
moves are taken over by the others, each move run by one conductor at a
time (fenced claims), with no operator action."""

import datetime
import os
import re
import signal
import time

from move_orchestrator.conductor import runner
from move_orchestrator.conductor import services as services_mod
from tests.functional.rpc import harness


def _claimed_by(cluster, docs, name):
    return [d for d in docs if any(
        c['name'] == name for c in cluster.claims(d['id']))]


def _logged_since(text, since):
    """The lines of a log whose records were made at or after ``since``
    (an epoch time). A record made just before a SIGSTOP can reach the
    file only after the SIGCONT: its own timestamp says when it was made.
    A line with none (a traceback's) goes with the record above it."""
    floor = datetime.datetime.fromtimestamp(since).replace(
        microsecond=int(since % 1 * 1000) * 1000)
    kept, made = [], None
    for line in text.splitlines(keepends=True):
        try:
            made = datetime.datetime.strptime(line[:23],
                                              '%Y-%m-%d %H:%M:%S.%f')
        except ValueError:
            pass
        if made is None or made >= floor:
            kept.append(line)
    return ''.join(kept)


def test_sigkill_mid_storm(cluster):
    with cluster(count=3, expiry=3.0, delay=0.1) as c:
        victim = c.conductors[0]
        name = c.runner_name(victim)
        docs = c.storm(24)
        # Kill it while it holds moves in flight.
        harness.wait_for(lambda: len([
            d for d in _claimed_by(c, docs, name)
            if c.services.store.get(d['id'])['state']
            not in ('completed', 'reverted', 'failed')]) >= 2, timeout=60,
            interval=0.01)
        c.kill(victim)
        done = c.wait_all(docs)
        c.check_world(done)
        taken = [d for d in done if any(
            cl['taken_over_from'] == name for cl in d['claims'])]
        assert taken, 'no move of the killed conductor was taken over'
        for d in taken:
            # The task says who took it over, at which attempt.
            last = d['claims'][-1]
            assert last['conductor'] != name and \
                last['conductor'] == d['conductor']
            assert last['attempt'] == len(d['claims']) >= 2
        for d in taken:
            # Succeeded steps were not run again: one attempt each, but
            # the interrupted one.
            attempts = [s['attempts'] for s in d['subtasks']]
            assert sum(a > 1 for a in attempts) <= 1, d['subtasks']


def test_sigstop_longer_than_the_claim(cluster):
    """A conductor frozen past its claims' expiry wakes up to find its
    moves taken over: it writes nothing more for them."""
    with cluster(count=2, expiry=2.0, delay=0.2) as c:
        frozen, other = c.conductors
        # Both live before the moves come: they share them.
        c.wait_live()
        pid = c.runner_pid(frozen)
        name = c.runner_name(frozen)
        docs = c.storm(8)
        mine = harness.wait_for(lambda: [
            d for d in _claimed_by(c, docs, name)
            if c.services.store.get(d['id'])['state']
            not in ('completed', 'reverted', 'failed')], timeout=60)
        stopped_at = time.time()
        os.kill(pid, signal.SIGSTOP)
        try:
            taken = harness.wait_for(lambda: [
                d for d in mine if any(
                    cl['detail'].get('taken_over_from') == name
                    for cl in c.claims(d['id']))], timeout=60)
        finally:
            woke_at = time.time()
            os.kill(pid, signal.SIGCONT)
        done = c.wait_all(docs)
        assert {d['state'] for d in done} == {'completed'}, [
            (d['id'], d['state'], d['reason']) for d in done]
        time.sleep(1.0)
        after = _logged_since(frozen.log_text(), woke_at)
        final = {d['id']: d for d in done}
        for d in (final[t['id']] for t in taken):
            # The recorder logs each transition it committed. One the
            # frozen conductor logged after it woke up was committed
            # before the takeover (the commit's answer, or the log line,
            # waited for the SIGCONT): fencing orders every write of the
            # move before or after a claim, never across it.
            events = c.services.store.events(d['id'])
            takeover = min(i for i, e in enumerate(events)
                           if e['kind'] == 'claim' and
                           (e['detail'] or {}).get('taken_over_from') == name)
            for source, target in re.findall(
                    r'Move %s \(.*\): (\S+) -> (\S+?)(?::|$)' % d['id'],
                    after, re.M):
                written = [i for i, e in enumerate(events)
                           if e['kind'] == 'move' and e['state'] == target
                           and (e['detail'] or {}).get('from') == source]
                assert written and max(written) < takeover, (
                    'frozen from %s to %s' % (
                        datetime.datetime.fromtimestamp(stopped_at),
                        datetime.datetime.fromtimestamp(woke_at)),
                    source, target, events, after[-3000:])
            # Its move state history is one path of the machine.
            states = [h['state'] for h in d['history']]
            assert states[-1] == 'completed'
            assert len(states) == len(set(states)), states


def test_move_runner_sigkilled(cluster):
    """The runner child of the only conductor dies: its replacement takes
    its moves up (handed back at once) with no operator action."""
    with cluster(count=1, expiry=60.0, delay=0.1) as c:
        proc = c.conductors[0]
        pid = c.runner_pid(proc)
        docs = c.storm(4)
        harness.wait_for(lambda: any(
            c.services.store.get(d['id'])['state'] not in
            ('accepted', 'completed') for d in docs), timeout=60)
        os.kill(pid, signal.SIGKILL)
        # Far sooner than the 60 s claims would take to lapse.
        done = c.wait_all(docs, timeout=45)
        c.check_world(done)
        assert proc.proc.poll() is None
        assert c.runner_pid(proc) != pid


def test_sigterm_hands_moves_over_at_once(cluster):
    """A conductor stopped with SIGTERM suspends its moves after their
    current step and hands their jobs back: another carries them on long
    before their claims would lapse."""
    with cluster(count=2, expiry=60.0, delay=0.2) as c:
        leaving, other = c.conductors
        c.wait_live()       # they share the moves
        name = c.runner_name(leaving)
        docs = c.storm(8)
        harness.wait_for(lambda: [
            d for d in _claimed_by(c, docs, name)
            if c.services.store.get(d['id'])['state']
            not in ('accepted', 'completed', 'reverted', 'failed')],
            timeout=60, interval=0.01)
        assert leaving.stop(signal.SIGTERM) == 0
        # It left the board at once, not one (60 s) expiry later.
        assert c.live_on_board() == {c.runner_name(other)}
        done = c.wait_all(docs, timeout=50)
        c.check_world(done)
        assert any(cl['taken_over_from'] == name
                   for d in done for cl in d['claims'])


def test_move_accepted_while_the_board_was_down_still_runs(cluster):
    """A move accepted by a process that could not post its job (Redis
    unreachable from it) is still accepted, and posted again by a
    conductor's sweep."""
    with cluster(count=1, expiry=2.0, delay=0.0) as c:
        proc = c.conductors[0]
        with open(proc.config) as f:
            text = f.read()
        cut_off = os.path.join(proc.workdir, 'cut-off.conf')
        with open(cut_off, 'w') as f:
            f.write(text.replace('redis://127.0.0.1:6379',
                                 'redis://127.0.0.1:1'))
        services = services_mod.Services(harness.load_conf(cut_off))
        vm = harness.boot(services, c.hosts[0])
        conductor = runner.Conductor(services)
        move = conductor.submit({'instance': vm['uuid'],
                                 'destination': c.hosts[3]})
        assert move['state'] == 'accepted'
        done = harness.wait_task(c.api, c.admin, move['id'], timeout=60)
        assert done['state'] == 'completed', done['reason']
        assert 'had no job on the board' in proc.log_text()
        services.db.dispose()


def _drained(c, drain, vms, timeout=120):
    """The drain completed, every instance moved off the first host by a
    child of its own, and the world is sound."""
    done = harness.wait_task(c.api, c.admin, drain['id'], timeout=timeout)
    assert done['state'] == 'completed', done['reason']
    assert c.services.inventory.list_instances(host=c.hosts[0]) == []
    children = [c.services.store.get(ch['id']) for ch in done['children']]
    assert {ch['instance_uuid'] for ch in children} == {
        vm['uuid'] for vm in vms}
    c.check_world([c.api.get_task(c.admin, ch['id']) for ch in children])
    return children


def test_drain_over_rpc_on_jobboard_conductors(cluster):
    """A drain has no job of its own: every conductor advances it once per
    look at the board, and each child is posted as it is made (never left
    for the sweep to find)."""
    with cluster(count=2, expiry=3.0, delay=0.02) as c:
        vms = [harness.boot(c.services, c.hosts[0]) for _ in range(4)]
        drain = c.api.drain_host(c.admin, c.hosts[0])
        _drained(c, drain, vms)
        logs = ''.join(p.log_text() for p in c.conductors)
        assert 'had no job on the board' not in logs


def test_drain_goes_on_when_a_conductor_dies(cluster):
    """A conductor SIGKILLed while a drain is half done: the other one
    goes on advancing the drain (no claim on it to wait for) and takes over
    the child the dead one ran."""
    with cluster(count=2, expiry=3.0, delay=0.05) as c:
        vms = [harness.boot(c.services, c.hosts[0]) for _ in range(6)]
        drain = c.api.drain_host(c.admin, c.hosts[0])
        harness.wait_for(lambda: sum(
            ch['state'] == 'completed' for ch in
            c.services.drains.children(drain['id'])) >= 2, timeout=90,
            interval=0.02)
        c.kill(c.conductors[0])
        half = c.services.drains.children(drain['id'])
        assert sum(ch['state'] == 'completed' for ch in half) < len(vms)
        _drained(c, drain, vms)
