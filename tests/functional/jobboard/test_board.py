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
