"""The operators' command line, run as a user would: a separate process."""

import json
import os
import subprocess
import sys

import pytest


def cli(tmp_path, *args, check=True, config=None):
    cmd = [sys.executable, '-m', 'move_orchestrator.cli.main']
    if config:
        cmd += ['--config-file', str(config)]
    proc = subprocess.run(cmd + list(args), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, COLUMNS='200'))
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """One demo run, its cloud left in place for the other commands."""
    path = tmp_path_factory.mktemp('demo')
    return path, cli(path, 'demo')


def test_demo_moves_every_type(demo):
    path, proc = demo
    out = proc.stdout
    for move_type in ('live-migrate', 'cold-migrate', 'resize', 'evacuate'):
        assert move_type in out
    assert out.count('completed') >= 4
    assert 'reverted' in out
    assert 'audit: no violations' in out
    assert (path / 'move-orchestrator.db').exists()
    # A line per move with instance names, then a short summary; no log
    # line of the demo's own injected fault.
    for name in ('vm1', 'vm2', 'vm3', 'vm4', 'vm5'):
        assert name in out
    assert len(out.splitlines()) < 40, out
    assert 'WARNING' not in proc.stderr, proc.stderr


def test_task_list_and_show_as_json(demo):
    path, _ = demo
    tasks = json.loads(cli(path, 'task', 'list', '-f', 'json').stdout)
    assert sorted(t['State'] for t in tasks) == ['completed'] * 4 + [
        'reverted']
    assert sorted(t['Instance'] for t in tasks) == ['vm1', 'vm2', 'vm3',
                                                    'vm4', 'vm5']
    reverted = [t for t in tasks if t['State'] == 'reverted'][0]
    doc = json.loads(cli(path, 'task', 'show', reverted['ID'], '-f',
                         'json').stdout)
    assert doc['Failed Step'] == 'TransferMemory'
    # Which conductor ran it: with several, which log to read.
    host, _, pid = doc['Conductor'].rpartition('.')
    assert host and pid.isdigit(), doc['Conductor']
    assert doc['History'][-1]['state'] == 'reverted'
    assert [s['state'] for s in doc['Steps']][-1] == 'REVERTED'
    # The same column names in every format; plain values for scripts.
    value = cli(path, 'task', 'show', reverted['ID'], '-f', 'value', '-c',
                'State', '-c', 'New Flavor').stdout.split()
    assert value == ['reverted', doc['New Flavor']]


def test_move_and_audit_go_on_after_the_demo(demo):
    path, _ = demo
    out = cli(path, 'move', 'vm6', '--to', 'host4', '--wait', '-f', 'json')
    assert json.loads(out.stdout)['State'] == 'completed'
    hosts = {i['Name']: i['Host'] for i in json.loads(
        cli(path, 'instance', 'list', '-f', 'json').stdout)}
    assert hosts['vm6'] == 'host4'
    assert cli(path, 'audit').returncode == 0


def test_bad_request_exits_non_zero_with_the_reason(demo):
    path, _ = demo
    proc = cli(path, 'move', 'no-such-vm', check=False)
    assert proc.returncode != 0
    assert 'Instance no-such-vm could not be found' in proc.stderr


def test_audit_reports_violations(tmp_path):
    cli(tmp_path, 'demo')
    # A domain nobody owns appears on host4 behind our back.
    import sqlite3
    con = sqlite3.connect(tmp_path / 'move-orchestrator.db')
    con.execute("INSERT INTO fake_domains (instance_uuid, host, state, vcpus,"
                " ram_mb, created_at, updated_at) VALUES ('ghost', 'host4',"
                " 'running', 1, 512, '2026-01-01', '2026-01-01')")
    con.commit()
    con.close()
    proc = cli(tmp_path, 'audit', '-f', 'json', check=False)
    assert proc.returncode == 1
    problems = json.loads(proc.stdout)
    assert [p['Instance'] for p in problems] == ['ghost']


def test_audit_reports_a_disk_that_is_not_the_flavors(tmp_path):
    """A disk left grown (a resize's revert that missed it) is a violation."""
    cli(tmp_path, 'demo')
    import sqlite3
    con = sqlite3.connect(tmp_path / 'move-orchestrator.db')
    uuid, flavor = con.execute(
        "SELECT uuid, flavor FROM instances WHERE name = 'vm1'").fetchone()
    con.execute("UPDATE fake_disks SET size_gb = size_gb + 10 "
                "WHERE instance_uuid = ?", (uuid,))
    con.commit()
    con.close()
    proc = cli(tmp_path, 'audit', '-f', 'json', check=False)
    assert proc.returncode == 1
    problems = json.loads(proc.stdout)
    assert [p['Instance'] for p in problems] == [uuid]
    assert 'GB (flavor %s)' % flavor in problems[0]['Problem']


def test_config_file_selects_database(tmp_path):
    conf = tmp_path / 'mo.conf'
    conf.write_text('[database]\nconnection = sqlite:///%s\n'
                    % (tmp_path / 'other.db'))
    cli(tmp_path, 'demo', config=conf)
    assert (tmp_path / 'other.db').exists()
    assert not (tmp_path / 'move-orchestrator.db').exists()


def test_graph(tmp_path):
    out = cli(tmp_path, 'graph', 'resize').stdout
    assert 'digraph "resize states"' in out
    assert '"verifying" -> "cleaning-up"' in out
    assert 'point of no return' in out


def test_graph_png(tmp_path):
    import shutil
    if shutil.which('dot') is None:
        if os.environ.get('CI') == 'true':
            pytest.fail('graphviz is missing: .ci/run installs it')
        pytest.skip('graphviz is not installed: apt-get install graphviz')
    cli(tmp_path, 'graph', 'live-migrate', '--png', 'lm')
    for kind in ('states', 'flow'):
        data = (tmp_path / ('lm-%s.png' % kind)).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n'
