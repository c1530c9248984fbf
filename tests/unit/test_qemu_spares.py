"""The qemu driver's spare watchers (qemu/watchers.py, spare.py), with a
small stand-in watcher file run as the real ones are (no QEMU needed): a
spare forks each watcher of its kind with its arguments and stays; a
forked watcher runs on when its spare is killed; a killed spare is replaced
by a watcher started as ever, whose end brings the next spare."""

import os
import signal
import subprocess

from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator.drivers.compute.qemu import watchers
from tests import waiting

# Run as switchover.py and arrival.py are: main(argv), "listening" on stdout.
WATCHER = '''
import os
import sys
import time


def main(argv):
    print('listening', flush=True)
    os.close(1)
    print('ran %s in %d' % (' '.join(argv), os.getpid()), file=sys.stderr,
          flush=True)
    time.sleep(float(argv[0]))
    print('done in %d' % os.getpid(), file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
'''


def _script(tmp_path):
    path = tmp_path / 'standin.py'
    path.write_text(WATCHER)
    return str(path)


def _ran(log, pid, what='a b'):
    with open(log) as f:
        return '%s in %d\n' % (what, pid) in f.read()


def _parent(pid):
    return procfs.stat(pid)[1]


def test_a_spare_forks_each_watcher_of_its_kind_and_stays(tmp_path):
    script, log = _script(tmp_path), str(tmp_path / 'watcher.log')
    watchers.SPARES.refill(script)
    spare = watchers.SPARES.pids()[script]
    # Each sleeps long enough to be seen alive (a watcher that ended is
    # reaped by its spare, and /proc forgets it).
    first = watchers.SPARES.start(script, ['2', 'a', 'b'], log)
    assert first.pid != spare and _parent(first.pid) == spare
    assert watchers.listening(first) == first.pid
    waiting.wait_for(lambda: _ran(log, first.pid), timeout=10)
    # Two at once: the same spare forks the second.
    second = watchers.SPARES.start(script, ['2', 'c', 'd'], log)
    assert _parent(second.pid) == spare
    assert watchers.listening(second) == second.pid
    waiting.wait_for(lambda: _ran(log, second.pid, 'c d'), timeout=10)
    waiting.wait_for(lambda: _ran(log, first.pid, 'done'), timeout=10)
    # Reaped by the spare, which stays for the next migration.
    waiting.wait_for(lambda: not any(map(procfs.running, (first.pid, second.pid))),
                     timeout=10)
    assert watchers.SPARES.pids()[script] == spare and procfs.running(spare)


def test_a_forked_watcher_runs_on_when_its_spare_is_killed(tmp_path):
    script, log = _script(tmp_path), str(tmp_path / 'watcher.log')
    watchers.SPARES.refill(script)
    spare = watchers.SPARES.pids()[script]
    proc = watchers.SPARES.start(script, ['0.5', 'a', 'b'], log)
    assert watchers.listening(proc) == proc.pid
    os.kill(spare, signal.SIGKILL)
    waiting.wait_for(lambda: not procfs.running(spare), timeout=10)
    waiting.wait_for(lambda: _ran(log, proc.pid, 'done'), timeout=10)


def test_a_killed_spare_is_replaced_by_a_watcher_started_as_ever(tmp_path):
    script, log = _script(tmp_path), str(tmp_path / 'watcher.log')
    watchers.SPARES.refill(script)
    spare = watchers.SPARES.pids()[script]
    os.kill(spare, signal.SIGKILL)
    waiting.wait_for(lambda: not procfs.running(spare), timeout=10)
    proc = watchers.SPARES.start(script, ['0.2', 'a', 'b'], log)
    assert proc.pid != spare and _parent(proc.pid) == os.getpid()
    assert watchers.listening(proc) == proc.pid
    waiting.wait_for(lambda: _ran(log, proc.pid), timeout=10)
    # Once it ended, a new spare waits.
    waiting.wait_for(lambda: watchers.SPARES.pids().get(script) not in (
        None, spare, proc.pid), timeout=10)


def test_watchers_asked_at_once_are_answered_in_order_when_looked_at(tmp_path):
    # Asked, not waited for: the caller readies the migration meanwhile.
    # The second looked at first reads the first one's answer on the way.
    script, log = _script(tmp_path), str(tmp_path / 'watcher.log')
    watchers.SPARES.refill(script)
    spare = watchers.SPARES.pids()[script]
    first = watchers.SPARES.start(script, ['2', 'a', 'b'], log)
    second = watchers.SPARES.start(script, ['2', 'c', 'd'], log)
    assert watchers.listening(second) == second.pid != first.pid
    assert watchers.listening(first) == first.pid
    assert _parent(first.pid) == _parent(second.pid) == spare
    waiting.wait_for(lambda: _ran(log, first.pid) and _ran(log, second.pid, 'c d'),
                     timeout=10)


def test_a_spare_that_dies_before_it_answers_is_replaced_by_a_direct_start(tmp_path):
    script, log = _script(tmp_path), str(tmp_path / 'watcher.log')
    watchers.SPARES.refill(script)
    spare = watchers.SPARES.pids()[script]
    os.kill(spare, signal.SIGSTOP)      # asked, it forks nothing
    proc = watchers.SPARES.start(script, ['0.2', 'a', 'b'], log)
    # The start did not wait for the answer (nor give up on the spare).
    assert watchers.SPARES.pids()[script] == spare and procfs.running(spare)
    os.kill(spare, signal.SIGKILL)
    assert watchers.listening(proc) == proc.pid
    assert _parent(proc.pid) == os.getpid()
    waiting.wait_for(lambda: _ran(log, proc.pid), timeout=10)
    waiting.wait_for(lambda: watchers.SPARES.pids().get(script) not in (
        None, spare, proc.pid), timeout=10)


def test_a_watcher_is_told_by_its_log_through_a_symbolic_link(tmp_path):
    (tmp_path / 'real').mkdir()
    os.symlink(tmp_path / 'real', tmp_path / 'link')
    record = str(tmp_path / 'link' / 'uuid.json')
    with open(switchover.log_path(record), 'a') as log:
        proc = subprocess.Popen(['sleep', '30'], stderr=log)
    try:
        assert watchers.alive(proc.pid, record)
        assert not watchers.alive(proc.pid, str(tmp_path / 'link' / 'other.json'))
    finally:
        proc.kill()
        proc.wait()
    assert not watchers.alive(proc.pid, record)
