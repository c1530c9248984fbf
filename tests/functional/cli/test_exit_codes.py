"""An operator's CLI: the exit codes say how a move or a drain ended."""

import pytest

from tests.functional.cli.common import mo
from tests.functional.cli.common import show
from tests.functional.cli.common import wait_state


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
