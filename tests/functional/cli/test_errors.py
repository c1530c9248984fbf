"""An operator's CLI: one-line errors, odd values, an unreachable broker
and the config checked at start."""

import os
import subprocess

import pytest

from tests.functional.cli.common import BIN
from tests.functional.cli.common import mo
from tests.functional.cli.common import run
from tests.functional.cli.common import show
from tests.functional.cli.common import text
from tests.functional.cli.common import write_config


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
            ('move-orchestrator-compute', ()),
            ('move-orchestrator-api', ())]


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
