"""Our extensions of TaskFlow's Redis jobboard, on the real Redis."""

import tempfile
import time
import uuid

from oslo_config import cfg
import pytest

from move_orchestrator import conf as mo_conf
from move_orchestrator.conductor import redisboard
from move_orchestrator import exception
from tests import services as test_services


def _conf(**jobboard_opts):
    """A private ConfigOpts read from a file (overrides of a group would
    stay on the OptGroup every ConfigOpts shares)."""
    with tempfile.NamedTemporaryFile('w', suffix='.conf') as f:
        f.write('[jobboard]\n' + ''.join(
            '%s = %s\n' % item for item in jobboard_opts.items()))
        f.flush()
        conf = cfg.ConfigOpts()
        mo_conf.register_all(conf)
        conf(['--config-file', f.name], project='move-orchestrator')
    return conf


@pytest.fixture
def boards():
    test_services.require_service('redis')
    made = []
    name = 'mo-test-%s' % uuid.uuid4().hex[:12]

    def _board(who, expiry=1.0):
        conf = _conf(backend='redis://127.0.0.1:6379', board_name=name,
                     claim_expiry=expiry, renew_interval=expiry / 4)
        board = redisboard.Board(who, redisboard.board_conf(conf), expiry)
        board.connect()
        made.append(board)
        return board

    yield _board
    for board in made:
        for job in board.iterjobs(ensure_fresh=True):
            owner = board.owner_of(job)
            if owner:
                board.abandon(job, owner)
        board.close()


def _only_job(board):
    jobs = list(board.iterjobs(ensure_fresh=True))
    assert len(jobs) == 1
    return jobs[0]


def test_claims_expire_and_only_their_owner_renews_them(boards):
    a, b = boards('a', expiry=1.0), boards('b', expiry=1.0)
    a.post('move-x', details={'move_id': 'x'})
    job = _only_job(a)
    assert a.owner_of(job) is None          # find_owner would raise here
    a.claim(job, 'a')
    assert 0 < job.expires_in() <= 1.0
    # b cannot revive or extend a's claim (stock extend_expiry would).
    assert not b.renew(_only_job(b), 'b')
    time.sleep(0.6)
    assert a.renew(job, 'a')                # a's renewal keeps it alive
    time.sleep(0.6)
    assert a.owner_of(job) == 'a'
    # Not renewed: it lapses, and b claims the job; a cannot renew it back.
    time.sleep(1.2)
    assert a.owner_of(job) is None
    b.claim(_only_job(b), 'b')
    assert not a.renew(job, 'a')
    assert b.owner_of(job) == 'b'


def test_listing_gives_every_job_with_its_owner(boards):
    """The two round trips of a look say what iterjobs' 1 + N say."""
    a, b = boards('a', expiry=30.0), boards('b', expiry=30.0)
    for move_id in 'wxyz':
        a.post('move-%s' % move_id, details={'move_id': move_id})
    by_move = {j.details['move_id']: j for j in a.jobs()}
    assert sorted(by_move) == list('wxyz')
    a.claim(by_move['x'], 'a')
    b.claim(by_move['y'], 'b')
    b.claim(by_move['z'], 'b')
    b.consume(by_move['z'], 'b')
    owners = {j.details['move_id']: owner for j, owner in b.listing()}
    assert owners == {'w': None, 'x': 'a', 'y': 'b'}
    assert {j.details['move_id'] for j in a.iterjobs(
        only_unclaimed=True, ensure_fresh=True)} == {'w'}


def test_bad_jobboard_config_is_refused():
    with pytest.raises(exception.Invalid, match='only redis'):
        redisboard.board_conf(_conf(backend='zookeeper://h:2181'))
    with pytest.raises(exception.Invalid, match='renew_interval'):
        redisboard.board_conf(_conf(backend='redis://h', claim_expiry=5,
                                    renew_interval=5))


def test_backend_password_never_shown():
    url = 'redis://user:s3cr3t@redis.example:6379/2'
    assert 's3cr3t' not in redisboard.masked(url)
    assert redisboard.masked(url) == 'redis://user:***@redis.example:6379/2'
    with pytest.raises(exception.Invalid) as e:
        redisboard.board_conf(_conf(backend='http://:s3cr3t@h'))
    assert 's3cr3t' not in str(e.value)
    board = redisboard.board_conf(_conf(backend=url))
    assert (board['password'], board['db'], board['username']) == (
        's3cr3t', 2, 'user')


def test_conductors_share_the_jobs_and_a_dead_ones_part_lapses(boards):
    """Each live conductor takes its part of the jobs waiting; a conductor
    that stops announcing itself lapses after one expiry (its key with it),
    and the survivor's part is then everything."""
    a, b = boards('a', expiry=1.0), boards('b', expiry=1.0)
    for board in (a, b):
        board.register_entity(redisboard.conductor_entity(board.name))
    for n in range(5):
        a.post('move-%d' % n, details={'move_id': str(n)})
    assert a.live_conductors() == b.live_conductors() == ['a', 'b']

    def waiting(board):
        listing = board.listing()
        return [j for j, owner in listing if owner is None], listing

    def part(board, free=6):
        jobs, listing = waiting(board)
        return board.part(board.name, len(jobs), free, listing)

    # 5 jobs, 2 conductors: a takes 3 (rounded up), b 1 of the 2 left.
    assert part(a) == (3, True)
    held = waiting(a)[0][:3]
    for job in held:
        a.claim(job, 'a')
    assert part(b) == (1, True)
    assert part(b, free=0) == (0, True)
    # a holds its part of all 5 already: the 2 left are b's.
    assert part(a) == (0, True)
    # b dies: a keeps announcing itself (its renewal rounds), b lapses.
    for _ in range(6):
        time.sleep(0.25)
        a.register_entity(redisboard.conductor_entity('a'))
        assert all(a.renew(job, 'a') for job in held)
    assert a.live_conductors() == ['a']
    assert part(a) == (2, False)
    assert part(a, free=1) == (1, False)
    client = a._client
    assert not client.exists(b.conductor_key('b'))
    assert client.smembers(a.conductors_key) == {b'a'}
    # Keys of the board's namespace only; gone an expiry after the last.
    keys = set(client.scan_iter(a.namespace + b'*conductor*'))
    assert keys == {a.conductor_key('a'), a.conductors_key}
    assert all(k.startswith(a.namespace + b':') for k in keys)
    time.sleep(1.2)
    assert not set(client.scan_iter(a.namespace + b'*conductor*'))
    assert a.live_conductors() == []


@pytest.mark.parametrize('waiting,live,free,held,mine,part', [
    (8, 1, 6, 0, 0, 6),     # alone: all it can run
    (8, 2, 6, 0, 0, 4),
    (7, 3, 6, 0, 0, 3),     # rounded up: none left over
    (1, 3, 6, 0, 0, 1),
    (4, 2, 6, 4, 4, 0),     # holds its part of the 8 already
    (4, 2, 6, 6, 0, 2),     # the other's workers are full: half each pass
    (4, 2, 0, 0, 0, 0),
    (0, 2, 6, 0, 0, 0),
])
def test_share_arithmetic(waiting, live, free, held, mine, part):
    assert redisboard.share(waiting, live, free, held, mine) == part


def test_a_conductor_that_leaves_says_so_at_once(boards):
    a, b = boards('a', expiry=30.0), boards('b', expiry=30.0)
    for board in (a, b):
        board.register_entity(redisboard.conductor_entity(board.name))
    b.unregister('b')
    assert a.live_conductors() == ['a']
