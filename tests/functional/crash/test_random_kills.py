"""Many moves in flight, the conductor SIGKILLed at random moments.

A bigger cloud (8 hosts, 24 instances) with a move of every instance
accepted at once: live and cold migrations, resizes and evacuations, all
run at the same time by one conductor process (a real ``python -m
move_orchestrator.cli.main conductor --until-idle``), which the test kills
with SIGKILL several times in a row, each time after a random number of
recorded sub-task events (from a fixed seed, printed; set
MO_TEST_CRASH_SEED to try another), and starts again. In the end every move
is completed or reverted as the resume policy says, and the audit is clean.
"""

import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest

from move_orchestrator import states
from tests.functional.crash import common

SEED = int(os.environ.get('MO_TEST_CRASH_SEED', '20261124'))
KILLS = 5
HOSTS, PER_HOST, DOWN = 8, 6, 'host4'
MOVES = (HOSTS // 2) * PER_HOST
TERMINAL = states.TERMINAL_STATES


def conductor_process(config, workdir, name):
    return common.spawn(workdir, name, config, 'conductor', '--until-idle',
                        '--poll', '0.05')


def events_since(con, event_id):
    return con.execute('SELECT count(*) FROM move_events WHERE id > ? AND '
                       "kind = 'subtask'", (event_id,)).fetchone()[0]


# The crash windows these kills found (a kill between an atom's save and
# the move's state, inside TaskFlow's two-commit inject, between a finished
# revert and its record) are reproduced deterministically in
# test_crash_windows.py.
@pytest.mark.parametrize('policy', ['resume', 'rollback'])
def test_random_kills_with_many_moves_in_flight(policy, crash_pool,
                                                tmp_path):
    rng = random.Random('%d-%s' % (SEED, policy))
    print('random kills: seed %d (MO_TEST_CRASH_SEED), policy %s'
          % (SEED, policy))
    workdir = str(tmp_path)
    db = os.path.join(workdir, 'mo.db')
    seed_conf = common.write_config(os.path.join(workdir, 'seed.conf'), db)
    seeded = crash_pool.submit(
        lambda runner: runner.call(workdir, 'seed', 'seed_many', seed_conf,
                                   HOSTS, PER_HOST, DOWN)).result()
    assert seeded.returncode == 0, seeded
    config = common.write_config(os.path.join(workdir, 'mo.conf'), db, {
        'conductor': {'resume_policy': policy,
                      'max_concurrent_moves': MOVES + 8},
        'fake_driver': {'operation_delay': 0.02},
        # Many moves in flight is the point here; the limits have tests of
        # their own (test_drain_limits.py, test_admission.py).
        'limits': {'max_outbound_live_per_host': 0,
                   'max_outbound_per_host': 0, 'max_inbound_per_host': 0}})
    docs = common.read_tasks(db)
    assert len(docs) == MOVES
    assert {d['type'] for d in docs.values()} == {
        'live-migrate', 'cold-migrate', 'resize', 'evacuate'}

    interrupted = set()     # moves a kill caught before their PONR
    kills = []
    con = sqlite3.connect(db, timeout=60)
    try:
        for round_ in range(KILLS):
            unfinished = [d for d in common.read_tasks(db).values()
                          if d['state'] not in TERMINAL]
            if not unfinished:
                break
            # Some sub-task events (each step makes two or more) after the
            # conductor starts: the first kill once every move is under
            # way, the later ones early or late in what is left to do.
            base = common.last_event_id(db) or 0
            threshold = rng.randint(3 * MOVES, 8 * MOVES) if not kills \
                else rng.randint(1, 4 * len(unfinished))
            proc = conductor_process(config, workdir, 'run%d' % round_)
            deadline = time.monotonic() + 120
            while (proc.poll() is None and time.monotonic() < deadline
                   and events_since(con, base) < threshold):
                time.sleep(0.005)
            if proc.poll() is not None:
                assert proc.returncode == 0, open(os.path.join(
                    workdir, 'run%d.log' % round_)).read()[-3000:]
                kills.append((round_, threshold, 'ended by itself'))
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            docs = common.read_tasks(db)
            states = [d['state'] for d in docs.values()]
            # Started: a step ran (the move's state may not show it yet).
            in_flight = [m for m, d in docs.items()
                         if d['state'] not in TERMINAL and d['subtasks']]
            interrupted |= {m for m in in_flight
                            if not docs[m]['point_of_no_return']}
            kills.append((round_, threshold, len(in_flight), sorted(
                (s, states.count(s)) for s in set(states))))
    finally:
        con.close()
    for kill in kills:
        print('kill', kill)

    # The last conductor, left alone, finishes everything.
    final = conductor_process(config, workdir, 'final')
    try:
        final.wait(timeout=180)
    except subprocess.TimeoutExpired:
        final.kill()
        final.wait()
        pytest.fail('the last conductor hangs; seed %d, kills %s'
                    % (SEED, kills))
    assert final.returncode == 0
    audit = crash_pool.submit(lambda runner: runner.cli(
        workdir, 'audit', config, 'audit', '-f', 'json')).result()
    docs = common.read_tasks(db)
    by_uuid = {i['uuid']: i for i in common.read_instances(db).values()}
    why = 'seed %d, kills %s, states %s, audit %s' % (
        SEED, kills, sorted(d['state'] for d in docs.values()),
        audit.stdout[-3000:])

    # Several kills hit the moves in full flight.
    killed = [k for k in kills if k[2] != 'ended by itself']
    assert len(killed) >= 3, why
    assert max(k[2] for k in killed) >= 20, why
    assert audit.returncode == 0, why
    ends = {d['state'] for d in docs.values()}
    assert ends <= {'completed', 'reverted'}, why
    reverted = {m for m, d in docs.items() if d['state'] == 'reverted'}
    if policy == 'resume':
        assert reverted == set(), why
    else:
        assert interrupted, why
        assert reverted == interrupted, why
    for doc in docs.values():
        instance = by_uuid[doc['instance']]
        assert instance['move_id'] is None, why
        assert instance['host'] == (doc['destination'] if doc['state'] ==
                                    'completed' else doc['source']), why
