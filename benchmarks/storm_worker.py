"""One storm, run as a script so that it can import an older tree.

``python benchmarks/storm_worker.py --moves N ...`` with ``PYTHONPATH``
pointing at the tree to measure (the working tree, or a checkout of an
earlier commit made by :mod:`benchmarks.bench_storm`). It uses only the
conductor API that every version has (services, ``ConductorAPI``, the
inventory), seeds its own SQLite cloud, submits N moves at once from several
client threads to one embedded conductor with the fake driver at zero delay,
and prints one JSON line with what it measured.
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import warnings

warnings.filterwarnings('ignore')

from oslo_config import cfg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from move_orchestrator import cloud as cloud_mod  # noqa: E402
from move_orchestrator.conductor import api as api_mod  # noqa: E402
from move_orchestrator.conductor import services as services_mod  # noqa
from move_orchestrator.conf import CONF  # noqa: E402
from move_orchestrator.db import migration  # noqa: E402

HOSTS = 10


class Counter:
    """Transactions and commits on the engines the process uses.

    Commits made inside a fake driver operation are the simulated
    hypervisor's world (a real driver writes none of them to our database):
    counted apart as well as in the total.
    """

    def __init__(self, engines, driver):
        self.begins = self.commits = self.world = 0
        self._lock = threading.Lock()
        self._in_driver = threading.local()
        for engine in engines:
            sa.event.listen(engine, 'begin', self._begin)
            sa.event.listen(engine, 'commit', self._commit)
        for name in dir(type(driver)):
            func = getattr(driver, name)
            if not name.startswith('_') and callable(func):
                setattr(driver, name, self._wrap(func))

    def _wrap(self, func):
        def wrapper(*args, **kwargs):
            depth = getattr(self._in_driver, 'depth', 0)
            self._in_driver.depth = depth + 1
            try:
                return func(*args, **kwargs)
            finally:
                self._in_driver.depth = depth
        return wrapper

    def _begin(self, conn):
        with self._lock:
            self.begins += 1

    def _commit(self, conn):
        with self._lock:
            self.commits += 1
            if getattr(self._in_driver, 'depth', 0):
                self.world += 1

    def snapshot(self):
        return self.begins, self.commits, self.world


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def seed(services, moves):
    inventory = services.inventory
    for name, vcpus, ram, disk in cloud_mod.DEMO_FLAVORS:
        inventory.create_flavor(name, vcpus, ram, disk)
    for i in range(HOSTS):
        inventory.create_host('host%d' % i, vcpus=4096, ram_mb=4096 * 1024,
                              disk_gb=100000, cpu_model='Cascadelake',
                              storage_group='local-host%d' % i)
    cold, live = [], []
    for i in range(moves):
        for kind, power, bucket in (('c', 'shutdown', cold),
                                    ('l', 'running', live)):
            bucket.append(cloud_mod.boot_instance(
                services, '%s%d' % (kind, i), 'host%d' % (i % HOSTS),
                'm1.tiny', power_state=power)['uuid'])
    return cold, live


def storm(api, counter, instances, live, clients):
    """Submit every move at once from `clients` threads; wait for all."""
    accepts, ids, errors = [], [], []
    lock = threading.Lock()
    todo = list(instances)
    start_line = threading.Barrier(clients + 1)

    def client():
        start_line.wait()
        while True:
            with lock:
                if not todo:
                    return
                uuid = todo.pop()
            t0 = time.perf_counter()
            try:
                doc = api.move_instance(None, uuid, live=live)
            except Exception as exc:   # reported, never hidden
                with lock:
                    errors.append('%s: %s' % (type(exc).__name__, exc))
                continue
            with lock:
                accepts.append(time.perf_counter() - t0)
                ids.append(doc['id'])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    before = counter.snapshot()
    start_line.wait()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for t in threads:
        t.join()
    states = {}
    for move_id in ids:
        doc = api.wait_task(None, move_id, timeout=600)
        states[doc['state']] = states.get(doc['state'], 0) + 1
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    done = len(ids)
    begins, commits, world = (b - a for a, b in zip(before,
                                                    counter.snapshot()))
    return {
        'moves': done, 'seconds': elapsed,
        'moves_per_s': done / elapsed if elapsed else 0.0,
        # CPU time of the whole process (every thread) per move: on a
        # shared machine, steadier than the wall clock; its inverse is
        # what one core could do (the GIL runs one thread at a time).
        'cpu_ms_per_move': 1000 * cpu / max(done, 1),
        'accept_p50_ms': 1000 * _pct(accepts, 0.5) if accepts else None,
        'accept_p99_ms': 1000 * _pct(accepts, 0.99) if accepts else None,
        'commits_per_move': commits / max(done, 1),
        'world_commits_per_move': world / max(done, 1),
        'transactions_per_move': begins / max(done, 1),
        'states': states, 'errors': errors[:5],
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--moves', type=int, default=150)
    parser.add_argument('--workers', type=int, default=16,
                        help='[conductor] max_concurrent_moves')
    parser.add_argument('--clients', type=int, default=4)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix='mo-storm-')
    url = 'sqlite:///%s/storm.db' % tmp
    CONF([], project='move-orchestrator')
    CONF.set_override('connection', url, group='database')
    CONF.set_override('max_concurrent_moves', args.workers,
                      group='conductor')
    CONF.set_override('driver', 'fake', group='compute')
    CONF.set_override('operation_delay', 0.0, group='fake_driver')
    # Throughput, not the limits: every move may run at once (a tree from
    # before the limits has no such group).
    for name in ('max_outbound_live_per_host', 'max_outbound_per_host',
                 'max_inbound_per_host'):
        try:
            CONF.set_override(name, 0, group='limits')
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            pass
    migration.upgrade(url)
    services = services_mod.Services(CONF)
    services.upgrade_persistence()
    services.driver
    api = api_mod.ConductorAPI(services)
    api.conductor.start()
    cold, live = seed(services, args.moves)
    engines = {services.db.engine}
    engine = getattr(services.persistence, '_engine', None)
    if isinstance(engine, sa.engine.Engine):
        engines.add(engine)
    counter = Counter(engines, services.driver)
    result = {'cold': storm(api, counter, cold, False, args.clients),
              'live': storm(api, counter, live, True, args.clients),
              'python': sys.version.split()[0], 'pid': os.getpid()}
    api.shutdown(wait=True)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
