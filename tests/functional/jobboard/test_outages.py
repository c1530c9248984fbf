"""Database and board outages are waited out: a storm of moves on two
conductors, PostgreSQL (or MariaDB, or Redis) stopped for about 10 s in the
middle, then started again. Every move completes (none reverted or failed because
of the outage), nothing ran twice at once, and the conductors answer RPC
during the outage, with the task or a typed error, within the timeout.

The servers stopped are private ones (``tests/private_services.py``), never
the shared ones other test runs use.
"""

import time

import oslo_messaging as messaging

from move_orchestrator import exception

from tests.functional.rpc import harness
from tests.private_services import private_mariadb  # noqa: F401
from tests.private_services import private_postgres  # noqa: F401
from tests.private_services import private_redis  # noqa: F401

OUTAGE = 10.0
RPC_TIMEOUT = 15


def _in_flight(cluster, docs, count=3):
    return harness.wait_for(lambda: len([
        d for d in docs if cluster.services.store.get(d['id'])['state']
        not in ('accepted', 'completed', 'reverted', 'failed')]) >= count,
        timeout=90, interval=0.02)


def _ask_during_outage(cluster, broker_url, task_id):
    """One RPC read while the outage lasts: it must come back within the
    client's timeout, with the task or a one-line typed error."""
    api = harness.client(broker_url, timeout=RPC_TIMEOUT)
    try:
        started = time.monotonic()
        try:
            doc = api.get_task(cluster.admin, task_id)
            answer = ('task', doc['state'])
        except messaging.MessagingTimeout:
            raise AssertionError('the conductor did not answer within %s s'
                                 % RPC_TIMEOUT)
        except exception.StorageUnavailable as e:
            # The client rebuilds the class (as a subclass of it); the
            # message is its first line.
            answer = ('error', 'StorageUnavailable',
                      str(e).splitlines()[0])
        return answer, time.monotonic() - started
    finally:
        api.cleanup()


def _storm_through(cluster, server):
    """A storm, ``server`` stopped for OUTAGE s while moves are in flight
    and an RPC read asked meanwhile; then every move ends well. The
    read's answer."""
    docs = cluster.storm(24)
    _in_flight(cluster, docs)
    server.stop()
    try:
        time.sleep(2.0)
        answer, took = _ask_during_outage(cluster, cluster.broker_url,
                                          docs[0]['id'])
        time.sleep(max(0.0, OUTAGE - 2.0 - took))
    finally:
        server.start()
    cluster.check_world(cluster.wait_all(docs, timeout=240))
    return answer


def test_postgresql_outage_mid_storm(cluster, private_postgres):  # noqa: F811
    with cluster(count=2, expiry=3.0, delay=0.1,
                 db_url=private_postgres.url) as c:
        answer = _storm_through(c, private_postgres)
        if answer[0] == 'error':
            assert answer[2].startswith(
                'Storage unavailable (connection failed)'), answer
        # The conductors waited, and said so in their logs.
        logs = ''.join(p.log_text() for p in c.conductors)
        assert 'Storage unavailable' in logs, logs[-3000:]


def test_mariadb_outage_mid_storm(cluster, private_mariadb):  # noqa: F811
    with cluster(count=2, expiry=3.0, delay=0.1,
                 db_url=private_mariadb.url) as c:
        answer = _storm_through(c, private_mariadb)
        if answer[0] == 'error':
            # oslo.db's connection error once the server is down; 2013
            # or 2006 for a connection cut as it stopped.
            assert answer[2].startswith((
                'Storage unavailable (connection failed)',
                'Storage unavailable (lost connection)',
                'Storage unavailable (server has gone away)')), answer
        logs = ''.join(p.log_text() for p in c.conductors)
        assert 'Storage unavailable' in logs, logs[-3000:]


def test_redis_outage_mid_storm(cluster, private_redis):  # noqa: F811
    with cluster(count=2, expiry=3.0, delay=0.1,
                 redis_url=private_redis.url) as c:
        answer = _storm_through(c, private_redis)
        assert answer[0] == 'task', answer
