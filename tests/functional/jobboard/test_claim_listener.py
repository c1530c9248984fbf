"""Where a running move looks at its claim on the board: a conductor
whose claim another one took stops before its next step, on its own (no
renewal round, no fenced write in between to stop it)."""

import time
import uuid

import pytest
import redis

from move_orchestrator.conductor import execution
from move_orchestrator.conductor import redisboard
from move_orchestrator.moves.types import base as types_base
from tests.functional.jobboard import conftest
from tests import harness
from tests import services as test_services

MAIN = types_base.MAIN


@pytest.fixture
def board_cloud(tmp_path):
    """A cloud whose conductor (this process) runs the moves of a board
    of its own; the fake driver's calls last ``delay`` each."""
    test_services.require_service('redis')
    name = 'mo-test-%s' % uuid.uuid4().hex[:12]
    made = []

    def _make(delay):
        made.append(harness.Cloud(
            'sqlite:///%s' % (tmp_path / 'mo.db'), run_jobs=True,
            jobboard__backend=conftest.REDIS, jobboard__board_name=name,
            # No renewal round while the test runs: only the listener
            # looks at the claim.
            jobboard__claim_expiry=120.0, jobboard__renew_interval=100.0,
            jobboard__poll_interval=0.02,
            fake_driver__operation_delay=delay))
        return made[-1]

    yield _make
    for cloud in made:
        cloud.close()
    client = redis.Redis.from_url(conftest.REDIS)
    for key in client.scan_iter(name + '*'):
        client.delete(key)
    client.close()


def _wait_running(cloud, move_id, step):
    deadline = time.monotonic() + 30
    while _main_states(cloud, move_id).get(step) != 'RUNNING':
        assert time.monotonic() < deadline, _main_states(cloud, move_id)
        time.sleep(0.01)


def _main_states(cloud, move_id):
    return execution.stored_atom_states(cloud.services, move_id, MAIN)


def _started(states):
    return {name for name, state in states.items() if state != 'PENDING'}


def test_a_claim_taken_over_stops_the_move_before_its_next_step(
        board_cloud):
    cloud = board_cloud(delay=1.0)
    conductor = cloud.api.conductor
    move = cloud.api.move_instance(None, 'vm1', destination='host3')
    # The destination is being prepared (a driver call of 1 s), the memory
    # copy is next: another conductor takes the job, from a connection of
    # its own.
    running = 'PrepareIncoming'
    _wait_running(cloud, move['id'], running)
    thief = redisboard.Board('thief', redisboard.board_conf(
        cloud.services.conf), 120.0)
    thief.connect()
    try:
        [job] = thief.jobs()
        thief._client.delete(job.owner_key)
        thief.claim(job, 'thief')
        before = _main_states(cloud, move['id'])
        assert before[running] == 'RUNNING'     # taken before it ended
        before = _started(before)
        deadline = time.monotonic() + 30
        while conductor.running(move['id']):
            assert time.monotonic() < deadline, 'the move went on'
            time.sleep(0.02)
        after = _main_states(cloud, move['id'])
        # The step running then ended; no other step started.
        assert after[running] == 'SUCCESS'
        assert _started(after) == before, sorted(_started(after) - before)
        assert after['TransferMemory'] == 'PENDING'
        doc = cloud.api.get_task(None, move['id'])
        assert doc['state'] not in ('completed', 'reverted', 'failed'), doc
        assert {s['name'] for s in doc['subtasks']} <= before
        assert thief.owner_of(job) == 'thief'
        # Nothing more is written for it.
        time.sleep(1.0)
        assert cloud.api.get_task(None, move['id']) == doc
        assert _main_states(cloud, move['id']) == after
    finally:
        thief.close()


def test_a_claim_that_vanished_is_not_a_loss(board_cloud):
    """A claim gone with nobody else holding it (a Redis restarted without
    persistence): the move goes on under its fencing token."""
    cloud = board_cloud(delay=0.2)
    move = cloud.api.move_instance(None, 'vm1', destination='host3')
    _wait_running(cloud, move['id'], 'PrepareIncoming')
    client = redis.Redis.from_url(conftest.REDIS)
    try:
        board = redisboard.Board('look', redisboard.board_conf(
            cloud.services.conf), 120.0)
        board.connect()
        [job] = board.jobs()
        assert client.delete(job.owner_key) == 1
        board.close()
    finally:
        client.close()
    doc = cloud.api.wait_task(None, move['id'], timeout=60)
    assert doc['state'] == 'completed', doc
    assert cloud.audit() == []
