"""An operator's day with the CLI, run as a user would (separate processes,
a SQLite cloud loaded with ``move-orchestrator-manage inventory load``):
exit codes, one-line errors, config checked at start, odd values, output.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
import time

import pytest

BIN = os.path.dirname(sys.executable)
# Moves to compute3 revert (the disk copy fails); to compute4 they fail
# (the revert's disk deletion fails too); a live migration to compute5
# takes 2 s to prepare.
FAULTS = ('copy_disk@compute3=fail, copy_disk@compute4=fail, '
          'delete_disk@compute4=fail, prepare_incoming@compute5=slow')
INVENTORY = {
    'flavors': [{'name': 'm1.small', 'vcpus': 1, 'ram_mb': 2048,
                 'disk_gb': 20},
                {'name': 'm1.tiny', 'vcpus': 1, 'ram_mb': 512, 'disk_gb': 1},
                {'name': 'huge', 'vcpus': 64, 'ram_mb': 4096,
                 'disk_gb': 20}],
    'hosts': [{'name': 'compute%d' % i, 'vcpus': 16, 'ram_mb': 65536,
               'disk_gb': 1000, 'cpu_model': 'Cascadelake'}
              for i in range(1, 6)] + [
        {'name': 'big', 'vcpus': 128, 'ram_mb': 65536, 'disk_gb': 1000,
         'cpu_model': 'Cascadelake'}],
    'instances': [{'name': 'vm%d' % i, 'host': 'compute1',
                   'flavor': 'm1.small',
                   'power_state': 'running' if i % 2 else 'shutdown'}
                  for i in range(1, 9)] + [
        {'name': 'whale', 'host': 'big', 'flavor': 'huge'},
        {'name': 'minnow', 'host': 'big', 'flavor': 'm1.tiny'}],
}


def run(tmp_path, program, *args, config=None, env=None):
    cmd = [os.path.join(BIN, program)]
    if config:
        cmd += ['--config-file', str(config)]
    return subprocess.run(cmd + list(args), cwd=tmp_path, capture_output=True,
                          timeout=120,
                          env=dict(os.environ, **dict({'COLUMNS': '120'}, **(env or {}))))


def text(proc):
    return proc.stdout.decode(), proc.stderr.decode()


def write_config(path, **sections):
    lines = []
    for section, values in sections.items():
        lines.append('[%s]' % section)
        lines += ['%s = %s' % kv for kv in values.items()]
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.fixture(scope='module')
def cloud(tmp_path_factory):
    path = tmp_path_factory.mktemp('cloud')
    config = write_config(
        path / 'mo.conf', database={'connection': 'sqlite:///%s'
                                    % (path / 'mo.db')},
        fake_driver={'faults': FAULTS, 'operation_delay': 0.01})
    (path / 'inventory.json').write_text(json.dumps(INVENTORY))
    for args in (('db', 'sync'), ('inventory', 'load', 'inventory.json')):
        proc = run(path, 'move-orchestrator-manage', *args, config=config)
        assert proc.returncode == 0, proc.stderr
    return path, config


def mo(cloud, *args, env=None):
    path, config = cloud
    return run(path, 'move-orchestrator', *args, config=config, env=env)


def show(proc):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


# -- exit codes ----------------------------------------------------------
@pytest.mark.parametrize('vm,args,code,state', [
    ('vm2', ('--to', 'compute2'), 0, 'completed'),
    ('vm4', ('--to', 'compute3'), 3, 'reverted'),
    ('vm6', ('--to', 'compute4'), 4, 'failed'),
])
def test_wait_exit_code_says_how_the_move_ended(cloud, vm, args, code,
                                                state):
    proc = mo(cloud, 'move', vm, *args, '--wait', '-f', 'json')
    assert proc.returncode == code, proc.stderr
    assert show(proc)['State'] == state


def test_wait_timeout_exits_5_and_the_move_goes_on(cloud):
    proc = mo(cloud, 'move', 'vm1', '--live', '--to', 'compute5', '--wait',
              '--timeout', '0.2', '-f', 'json')
    assert proc.returncode == 5, proc.stderr
    doc = show(proc)
    assert doc['State'] not in ('completed', 'reverted', 'failed')
    assert wait_state(cloud, doc['ID']) == 'completed'


def wait_state(cloud, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        state = mo(cloud, 'task', 'show', task_id, '-f', 'value', '-c',
                   'State').stdout.decode().strip()
        if state in ('completed', 'reverted', 'failed') or \
                time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_move_without_wait_returns_at_accepted_and_the_move_runs(cloud):
    proc = mo(cloud, 'move', 'vm3', '--to', 'compute2', '-f', 'json')
    assert proc.returncode == 0, proc.stderr
    doc = show(proc)
    assert doc['State'] == 'accepted'
    # A detached conductor runs it after this CLI has exited.
    assert wait_state(cloud, doc['ID']) == 'completed'


def test_drain_that_refuses_an_instance_exits_6(cloud):
    # whale's flavor fits no other host; minnow moves.
    proc = mo(cloud, 'drain', 'big', '-f', 'json')
    assert proc.returncode == 6, proc.stderr
    doc = show(proc)
    assert (doc['Type'], doc['State']) == ('drain', 'failed'), doc
    assert '1 refused' in doc['Progress'], doc
    assert 'minnow' in doc['Children'] and 'completed' in doc['Children']


# -- one-line errors -----------------------------------------------------
def test_unknown_instance_is_one_line(cloud):
    proc = mo(cloud, 'move', 'vm99')
    assert proc.returncode == 1
    assert proc.stderr.decode() == \
        'Error: Instance vm99 could not be found.\n'
    assert proc.stdout == b''


def test_debug_shows_the_traceback(cloud):
    proc = mo(cloud, '--debug', 'move', 'vm99')
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert 'Traceback' in err
    assert err.endswith('Error: Instance vm99 could not be found.\n')


def test_force_complete_of_a_cold_move_is_one_line(cloud):
    doc = show(mo(cloud, 'move', 'vm8', '--to', 'compute2', '--wait',
                  '-f', 'json'))
    proc = mo(cloud, 'task', 'force-complete', doc['ID'])
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.startswith('Error: Task %s cannot be' % doc['ID'])
    assert err.count('\n') == 1


def test_a_database_that_is_not_one_is_named(tmp_path):
    (tmp_path / 'junk.db').write_bytes(b'not a database at all' * 100)
    config = write_config(tmp_path / 'mo.conf', database={
        'connection': 'sqlite:///%s' % (tmp_path / 'junk.db')})
    proc = run(tmp_path, 'move-orchestrator', 'task', 'list', config=config)
    assert proc.returncode == 1
    out, err = text(proc)
    assert err.count('\n') == 1, err
    assert err.startswith('Error: database sqlite:///%s'
                          % (tmp_path / 'junk.db')), err
    assert 'not a database' in err


# -- odd values ----------------------------------------------------------
def test_a_huge_name_is_not_echoed_whole(cloud):
    proc = mo(cloud, 'move', 'x' * 100000)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.count('\n') == 1
    assert len(err) < 600, len(err)


@pytest.mark.parametrize('args', [
    ('move', 'vm1\nError: forged\x1b[31m'),
    ('instance', 'show', 'vm1\nError: forged\x1b[31m'),
    ('task', 'list', '--instance', 'vm1\n\x1b[2J'),
])
def test_control_characters_are_escaped(cloud, args):
    proc = mo(cloud, *args)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.count('\n') == 1, err
    assert '\x1b' not in err
    assert '\\n' in err and '\\x1b' in err


def test_invalid_utf8_is_a_typed_refusal(cloud):
    path, config = cloud
    proc = subprocess.run(
        [os.path.join(BIN, 'move-orchestrator').encode(), b'--config-file',
         str(config).encode(), b'move', b'vm\xff\xfe'],
        cwd=path, capture_output=True, timeout=120)
    assert proc.returncode == 1
    # The service layer refuses it first (its wording); one typed line.
    err = proc.stderr.decode()
    assert err.startswith('Error: Invalid') and err.count('\n') == 1, err


@pytest.mark.parametrize('args,fragment', [
    (('task', 'list', '--state', 'bogus'), "invalid choice: 'bogus'"),
    (('task', 'list', '--type', 'teleport'), "invalid choice: 'teleport'"),
    (('task', 'list', '--limit', '-1'), 'must be from 1 to 1000'),
    (('task', 'list', '--limit', '0'), 'must be from 1 to 1000'),
    (('task', 'list', '--limit', 'many'), 'not a whole number'),
    (('move', 'vm1', '--wait', '--timeout', '-3'), 'must be more than 0'),
])
def test_bad_filters_are_usage_errors(cloud, args, fragment):
    proc = mo(cloud, *args)
    assert proc.returncode == 2
    assert fragment in proc.stderr.decode()


def test_unknown_host_filter_is_refused(cloud):
    proc = mo(cloud, 'task', 'list', '--host', 'nowhere')
    assert proc.returncode == 1
    assert proc.stderr.decode() == \
        'Error: Host nowhere could not be found.\n'


# -- output --------------------------------------------------------------
def test_version_is_the_package_version(cloud):
    out = mo(cloud, '--version').stdout.decode()
    assert out.strip() == 'move-orchestrator %s' % importlib.metadata.version(
        'move-orchestrator')


def test_instance_and_host_show(cloud):
    inst = show(mo(cloud, 'instance', 'show', 'vm7', '-f', 'json'))
    assert (inst['Name'], inst['Host'], inst['Flavor']) == (
        'vm7', 'compute1', 'm1.small')
    assert mo(cloud, 'instance', 'show', inst['ID'], '-f', 'value', '-c',
              'Name').stdout.decode() == 'vm7\n'
    host = show(mo(cloud, 'host', 'show', 'compute1', '-f', 'json'))
    assert host['State'] == 'up' and 'vm7' in host['Instances'].split(', ')
    assert host['Used VCPUs'] >= 1


def test_task_list_filters(cloud):
    done = show(mo(cloud, 'move', 'vm5', '--to', 'compute2', '--wait',
                   '-f', 'json'))
    tasks = show(mo(cloud, 'task', 'list', '--host', 'compute2', '--type',
                    'live-migrate', '-f', 'json'))
    assert done['ID'] in [t['ID'] for t in tasks]
    assert {t['Type'] for t in tasks} == {'live-migrate'}
    assert all('compute2' in (t['Source'], t['Destination']) for t in tasks)
    reverted = show(mo(cloud, 'task', 'list', '--state', 'completed', '-f',
                       'json'))
    assert {t['State'] for t in reverted} == {'completed'}
    assert done['Instance'] == 'vm5'


def test_task_show_is_readable_at_80_columns(cloud):
    moved = show(mo(cloud, 'move', 'vm7', '--to', 'compute2', '--wait',
                    '-f', 'json'))
    doc = show(mo(cloud, 'task', 'show', moved['ID'], '-f', 'json'))
    out = mo(cloud, 'task', 'show', doc['ID'],
             env={'COLUMNS': '80'}).stdout.decode()
    for step in doc['Steps']:
        assert step['name'] in out, out
        assert step['started'][11:23] in out, out
    assert '…' not in out


def test_the_same_columns_in_every_format(cloud):
    doc = show(mo(cloud, 'move', 'vm1', '--cold', '--to', 'compute2',
                  '--wait', '-f', 'json'))
    for column in ('New Flavor', 'Old Flavor', 'Instance', 'State'):
        value = mo(cloud, 'task', 'show', doc['ID'], '-f', 'value', '-c',
                   column).stdout.decode().strip()
        assert value == str(doc[column])
        yaml_out = mo(cloud, 'task', 'show', doc['ID'], '-f', 'yaml', '-c',
                      column).stdout.decode()
        assert yaml_out.startswith('%s:' % column)


# -- an unreachable broker -----------------------------------------------
def test_unreachable_broker_gives_up_within_the_timeout(tmp_path):
    """Port 9 of 127.0.0.1 refuses connections: oslo.messaging would retry
    for ever; the CLI stops after rpc_response_timeout with one line."""
    config = write_config(tmp_path / 'mo.conf', DEFAULT={
        'transport_url': 'rabbit://mo:Br0ker-S3cret@127.0.0.1:9/',
        'rpc_response_timeout': 3})
    # run() gives it 120 s: a CLI that retried for ever would fail there.
    proc = run(tmp_path, 'move-orchestrator', 'task', 'list', config=config)
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        'Error: No answer within 3 s (rpc_response_timeout): the message '
        'broker at rabbit://mo:***@127.0.0.1:9/ cannot be reached\n')


# -- config checked at start ---------------------------------------------
BAD_VALUES = [
    # (section, option, value, what the line says)
    ('fake_driver', 'operation_delay', 'abc', 'could not convert'),
    ('fake_driver', 'faults', 'nonsense', "bad fault spec 'nonsense'"),
    ('fault_injection', 'task_faults', 'CopyDisk.execute=explode',
     'bad fault spec'),
    ('conductor', 'resume_policy', 'maybe', "found 'maybe'"),
    ('conductor', 'max_concurrent_moves', '0', 'greater than or equal'),
    ('conductor', 'max_concurrent_moves', 'many', 'invalid literal'),
    ('move', 'allow_resize_to_same_host', 'perhaps', 'perhaps'),
]
PROGRAMS = [('move-orchestrator', ('task', 'list')),
            ('move-orchestrator-manage', ('db', 'version')),
            ('move-orchestrator-conductor', ()),
            ('move-orchestrator-compute', ())]


@pytest.mark.parametrize('section,option,value,says', BAD_VALUES)
def test_a_bad_value_is_one_line_naming_file_section_option(
        tmp_path, section, option, value, says):
    config = write_config(tmp_path / 'bad.conf', **{section: {option: value}})
    proc = run(tmp_path, 'move-orchestrator', 'task', 'list', config=config)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count('\n') == 1, err
    assert err.startswith('Error: %s: [%s] %s: ' % (config, section, option))
    assert says in err
    # Nothing was done: not even the default database was created.
    assert not (tmp_path / 'move-orchestrator.db').exists()


@pytest.mark.parametrize('program,args', PROGRAMS)
def test_every_program_checks_its_config_first(tmp_path, program, args):
    config = write_config(tmp_path / 'bad.conf', DEFAULT={
        'transport_url': 'rabbit://u:p@127.0.0.1:9/'},
        conductor={'resume_policy': 'maybe'})
    proc = run(tmp_path, program, *args, config=config)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "Error: %s: [conductor] resume_policy: Valid values are [resume, "
        "rollback], but found 'maybe'\n" % config)


@pytest.mark.parametrize('content,says', [
    ('[conductor\nmax_concurrent_moves = 2\n', 'Invalid section'),
    ('just a line\n', "No ':' or '=' found"),
])
def test_a_broken_config_file(tmp_path, content, says):
    config = tmp_path / 'broken.conf'
    config.write_text(content)
    proc = run(tmp_path, 'move-orchestrator', 'task', 'list', config=config)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.startswith('Error: %s: not a valid config file: ' % config)
    assert says in err and err.count('\n') == 1


@pytest.mark.parametrize('program,args', PROGRAMS)
def test_a_missing_config_file(tmp_path, program, args):
    proc = run(tmp_path, program, *args, config=tmp_path / 'nope.conf')
    assert proc.returncode == 2
    assert proc.stderr.decode() == 'Error: config file not found: %s\n' % (
        tmp_path / 'nope.conf')


def test_demo_over_rpc_says_why_not(tmp_path):
    config = write_config(tmp_path / 'mo.conf', DEFAULT={
        'transport_url': 'rabbit://u:p@127.0.0.1:9/'})
    proc = run(tmp_path, 'move-orchestrator', 'demo', config=config)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.startswith('Error: the demo runs embedded only')
    assert err.count('\n') == 1
