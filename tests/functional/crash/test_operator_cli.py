"""Operators' controls from the command line, across processes.

The conductor runs in a process of its own (``move-orchestrator conductor``)
and the operator's ``task abort|revert|resume`` is another process, as on a
real controller; or the operator's command, finding no conductor, runs the
move itself.
"""

import json
import os
import signal
import sqlite3

import pytest

from move_orchestrator import states
from tests.functional.crash import common

STOP_TIMEOUT = 60
TERMINAL = states.TERMINAL_STATES


def move_doc(db, move_id):
    return common.read_tasks(db)[move_id]


def move_state(db, move_id):
    return move_doc(db, move_id)['state']


def migration_status(db, instance_uuid):
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=60)
    try:
        row = con.execute('SELECT status FROM fake_migrations WHERE '
                          'instance_uuid = ?', (instance_uuid,)).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def cli(crash_pool, workdir, name, config, *args):
    """A one-shot command in a process of its own (see common.Runner)."""
    return crash_pool.submit(
        lambda runner: runner.cli(workdir, name, config, *args)).result()


def stop(proc, workdir, name, sig=None):
    if sig is not None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=STOP_TIMEOUT)
    except Exception:
        proc.kill()
        proc.wait()
        pytest.fail('%s did not end:\n%s' % (name, common.log_of(
            workdir, name)[-3000:]))


@pytest.fixture
def setup(one_move_templates, tmp_path):
    """setup(type, **options) -> (workdir, db, config, template)"""
    def _setup(type_name, name='mo', **options):
        template = one_move_templates[type_name]
        workdir = str(tmp_path)
        db = os.path.join(workdir, 'mo.db')
        if not os.path.exists(db):
            common.copy_database(template['template'], db)
        config = common.write_config(os.path.join(workdir, '%s.conf' % name),
                                     db, options)
        return workdir, db, config, template
    return _setup


# -- abort -------------------------------------------------------------------
@pytest.fixture
def aborted_in_transfer(setup, crash_pool):
    """A live migration aborted from the CLI while its memory copy runs in
    a conductor process."""
    workdir, db, config, template = setup(
        'live-migrate', fake_driver={'migration_steps': 100000},
        conductor={'poll_interval': 0.01})
    move_id = template['move']
    conductor = common.spawn(workdir, 'conductor', config, 'conductor',
                             '--until-idle', '--poll', '0.05')
    try:
        instance = common.read_instances(db)[template['instance']]
        common.wait_for(lambda: migration_status(db, instance['uuid'])
                        == 'running', what='the memory copy to run')
        assert move_state(db, move_id) == 'migrating-memory'
        abort = cli(crash_pool, workdir, 'abort', config, 'task', 'abort',
                    move_id, '-f', 'json')
        assert abort.returncode == 0, abort
        assert json.loads(abort.stdout)['ID'] == move_id
        assert json.loads(abort.stdout)['Abort Requested'].startswith('yes')
        # The conductor process reverts it and, idle, exits.
        assert stop(conductor, workdir, 'conductor') == 0
    finally:
        if conductor.poll() is None:
            conductor.kill()
            conductor.wait()
    audit = cli(crash_pool, workdir, 'audit', config, 'audit', '-f', 'json')
    return dict(doc=move_doc(db, move_id), audit=audit, db=db,
                instances=common.read_instances(db), template=template,
                migration=migration_status(db, instance['uuid']))


def test_abort_during_transfer_reverts(aborted_in_transfer):
    out = aborted_in_transfer
    doc, template = out['doc'], out['template']
    assert doc['state'] == 'reverted', doc['reason']
    assert 'aborted' in doc['reason']
    assert doc['point_of_no_return'] is False
    assert [a['action'] for a in doc['actions']] == ['abort']
    states = [h['state'] for h in doc['history']]
    assert states[-3:] == ['migrating-memory', 'reverting', 'reverted']
    assert 'aborted by' in doc['history'][-1]['reason']
    sub = {s['name']: s for s in doc['subtasks']}
    assert sub['TransferMemory']['state'] == 'REVERTED'
    assert 'SwitchOverMigration' not in sub        # it never got that far
    assert out['migration'] == 'cancelled'
    instance = out['instances'][template['instance']]
    assert instance['host'] == template['source']
    assert instance['move_id'] is None
    assert out['audit'].returncode == 0, out['audit'].stdout


def test_abort_records_who_asked(aborted_in_transfer):
    doc = aborted_in_transfer['doc']
    action, = doc['actions']
    assert action['user_id'] and action['project_id'], action
    assert 'aborted by %s' % action['user_id'] in doc['reason']


def test_abort_after_point_of_no_return_is_refused(setup, crash_pool):
    # The conductor process hangs in the cleanup's first step: the move is
    # past its point of no return and still running.
    workdir, db, config, template = setup(
        'cold-migrate', fault_injection={
            'task_faults': ['DestroySource.execute.before=hang']})
    move_id = template['move']
    conductor = common.spawn(workdir, 'conductor', config, 'conductor',
                             '--until-idle', '--poll', '0.05')
    try:
        # The step's history row commits with its atom; the move's state
        # follows a moment later, in its own transaction.
        common.wait_for(lambda: move_doc(db, move_id)['state'] == 'cleaning-up'
                        and 'DestroySource' in [
                            s['name'] for s in move_doc(db, move_id)['subtasks']],
                        what='the cleanup to start')
        before = move_doc(db, move_id)
        assert before['state'] == 'cleaning-up'
        assert before['point_of_no_return'] is True
        abort = cli(crash_pool, workdir, 'abort', config, 'task', 'abort',
                    move_id)
        assert abort.returncode != 0
        assert 'point of no return' in abort.stderr, abort
        after = move_doc(db, move_id)
        assert after['actions'] == []           # a refusal changes nothing
        assert after['state'] == 'cleaning-up'
        assert after['history'] == before['history']
    finally:
        conductor.kill()            # hung: only a kill ends it
        conductor.wait()
    # The next conductor (the hang fixed) rolls it forward.
    fixed = common.write_config(os.path.join(workdir, 'fixed.conf'), db)
    recovery = cli(crash_pool, workdir, 'recover', fixed, 'conductor',
                   '--until-idle', '--poll', '0.02')
    assert recovery.returncode == 0 and not recovery.timed_out, recovery
    doc = move_doc(db, move_id)
    assert doc['state'] == 'completed', doc['reason']
    assert 'reverting' not in [h['state'] for h in doc['history']]
    assert common.read_instances(db)[template['instance']]['host'] == \
        template['dest']
    audit = cli(crash_pool, workdir, 'audit', fixed, 'audit')
    assert audit.returncode == 0, audit.stdout


# -- revert and resume of failed moves ---------------------------------------
def failed_move(setup, crash_pool, **options):
    """A cold migration that ended ``failed``: run by a conductor process
    with faults; returns (workdir, db, config without the faults, template).
    """
    workdir, db, faulty, template = setup('cold-migrate', name='faulty',
                                          **options)
    run = cli(crash_pool, workdir, 'faulty', faulty, 'conductor',
              '--until-idle', '--poll', '0.02')
    assert run.returncode == 0, run
    doc = move_doc(db, template['move'])
    assert doc['state'] == 'failed', doc['reason']
    # Audit says why and what to do; the instance stays held.
    audit = cli(crash_pool, workdir, 'audit-failed', faulty, 'audit', '-f',
                'json')
    assert audit.returncode == 1
    problems = json.loads(audit.stdout)
    assert [p['Task'] for p in problems] == [template['move']]
    assert 'resume or revert' in problems[0]['Problem']
    # The operator fixes the cause: the faults go from the configuration.
    _, _, fixed, _ = setup('cold-migrate', name='fixed')
    return workdir, db, fixed, template, doc


REVERT_FAILS = {'task_faults': ['CopyDisk.execute=fail',
                                'BindDestinationPorts.revert=fail']}


@pytest.mark.parametrize('where', ['cli-runs-it', 'conductor-process'])
@pytest.mark.parametrize('action,end', [('revert', 'reverted'),
                                        ('resume', 'completed')])
def test_failed_move_revert_or_resume(setup, crash_pool, action, end,
                                      where):
    workdir, db, fixed, template, failed = failed_move(
        setup, crash_pool, fault_injection=REVERT_FAILS)
    move_id = template['move']
    assert failed['failed_step'] == 'BindDestinationPorts'
    conductor = None
    if where == 'conductor-process':
        conductor = common.spawn(workdir, 'conductor', fixed, 'conductor',
                                 '--poll', '0.05')
        common.wait_for(lambda: common.owned(db), what='the conductor')
    try:
        proc = cli(crash_pool, workdir, action, fixed, 'task', action,
                   move_id, '-f', 'json')
        assert proc.returncode == 0, proc
        if conductor is None:
            # No conductor: the command took the database and saw it
            # through.
            assert json.loads(proc.stdout)['State'] == end
        else:
            # The conductor process takes it up.
            seen = len(failed['history'])

            def ended():
                doc = move_doc(db, move_id)
                return doc['state'] in TERMINAL and len(doc['history']) > seen
            common.wait_for(ended, what='the move to end')
    finally:
        if conductor is not None:
            assert stop(conductor, workdir, 'conductor', signal.SIGTERM) == 0
    doc = move_doc(db, move_id)
    assert doc['state'] == end, doc['reason']
    assert [(a['action'], a['result']) for a in doc['actions']] == [
        (action, 'accepted')]
    states = [h['state'] for h in doc['history']]
    failed_at = states.index('failed')
    assert states[-1] == end
    if action == 'revert':
        assert states[failed_at:] == ['failed', 'reverting', 'reverted']
        host = template['source']
    else:
        assert 'reverting' not in states[failed_at:]
        assert 'cleaning-up' in states[failed_at:]
        host = template['dest']
    instance = common.read_instances(db)[template['instance']]
    assert instance['host'] == host and instance['move_id'] is None
    audit = cli(crash_pool, workdir, 'audit', fixed, 'audit')
    assert audit.returncode == 0, audit.stdout


def test_failed_cleanup_is_resumed_not_reverted(setup, crash_pool):
    workdir, db, fixed, template, failed = failed_move(
        setup, crash_pool, conductor={'cleanup_attempts': 1},
        fault_injection={'task_faults': ['UnbindSourcePorts.execute=fail']})
    move_id = template['move']
    assert failed['point_of_no_return'] is True
    revert = cli(crash_pool, workdir, 'revert', fixed, 'task', 'revert',
                 move_id)
    assert revert.returncode != 0
    assert 'point of no return' in revert.stderr, revert
    assert move_doc(db, move_id)['actions'] == []
    resume = cli(crash_pool, workdir, 'resume', fixed, 'task', 'resume',
                 move_id, '-f', 'json')
    assert resume.returncode == 0, resume
    doc = move_doc(db, move_id)
    assert doc['state'] == 'completed', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['resume']
    assert 'reverting' not in [h['state'] for h in doc['history']]
    instance = common.read_instances(db)[template['instance']]
    assert instance['host'] == template['dest']
    audit = cli(crash_pool, workdir, 'audit', fixed, 'audit')
    assert audit.returncode == 0, audit.stdout
