"""A drain whose conductor is SIGKILLed is carried on by the next one.

``host drain`` runs embedded in its own process; it is killed once some
children have completed and one is running; ``conductor --until-idle`` then
resumes the running child, makes the remaining ones, and the drain ends
``completed`` with the host empty and the audit clean.
"""

import os
import signal
import sqlite3

from move_orchestrator import cloud as cloud_mod
from tests.functional.crash import common
from tests import harness

INSTANCES = 8


def drain_progress(db):
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=60)
    try:
        drain = con.execute('SELECT id, state FROM drains').fetchone()
        children = con.execute(
            'SELECT state FROM moves WHERE drain_id IS NOT NULL').fetchall()
        return drain, [c[0] for c in children]
    finally:
        con.close()


def test_killed_drain_is_carried_on(tmp_path):
    db = str(tmp_path / 'mo.db')
    cloud = harness.Cloud('sqlite:///%s' % db, seed=False)
    inventory = cloud.services.inventory
    inventory.create_flavor('m1.nano', 1, 128, 1)
    for host in ('host1', 'host2', 'host3'):
        inventory.create_host(host, vcpus=64, ram_mb=65536, disk_gb=1000,
                              cpu_model='Cascadelake')
    for i in range(INSTANCES):
        cloud_mod.boot_instance(cloud.services, 'vm%d' % i, 'host1',
                                'm1.nano',
                                power_state='running' if i % 2 else 'shutdown')
    cloud.close()
    config = common.write_config(
        str(tmp_path / 'mo.conf'), db,
        {'fake_driver': {'operation_delay': 0.02}})

    first = common.spawn(str(tmp_path), 'drain', config, 'host', 'drain',
                         'host1')

    def some_done_one_running():
        drain, children = drain_progress(db) if os.path.exists(db) else (
            None, [])
        return drain and children.count('completed') >= 2 and any(
            s not in ('completed', 'accepted') for s in children)
    common.wait_for(some_done_one_running, what='a drain under way')
    first.send_signal(signal.SIGKILL)
    first.wait()
    (drain_id, state), children = drain_progress(db)
    assert state == 'draining' and len(children) < INSTANCES

    second = common.spawn(str(tmp_path), 'conductor', config, 'conductor',
                          '--until-idle')
    assert second.wait(timeout=common.TIMEOUT) == 0, common.log_of(
        str(tmp_path), 'conductor')
    doc = common.read_tasks(db)
    (drain_id, state), children = drain_progress(db)
    assert state == 'completed', common.log_of(str(tmp_path), 'conductor')
    assert children == ['completed'] * INSTANCES
    assert all(d['state'] == 'completed' for d in doc.values())
    audit = common.spawn(str(tmp_path), 'audit', config, 'audit')
    assert audit.wait(timeout=common.TIMEOUT) == 0, common.log_of(
        str(tmp_path), 'audit')
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM instances WHERE host = "
                           "'host1'").fetchone() == (0,)
    finally:
        con.close()
