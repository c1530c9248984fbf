"""What /proc says of a process, as the drivers and tests read it."""

import os
import subprocess
import sys

from move_orchestrator.drivers.compute import procfs
from tests import waiting


def test_a_child_runs_then_is_a_zombie_then_gone():
    marker = 'procfs-test-%d' % os.getpid()
    proc = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()',
                             marker], stdin=subprocess.PIPE)
    try:
        assert procfs.stat(proc.pid)[1] == os.getpid()
        assert procfs.running(proc.pid)
        # Until its exec is done, the child's command line is not its own.
        waiting.wait_for(lambda: marker.encode() in procfs.cmdline(proc.pid),
                         timeout=10)
        assert procfs.processes(marker) == [proc.pid]
    finally:
        proc.stdin.close()
    # Exited, not reaped: a zombie is not running, and has no command line.
    waiting.wait_for(lambda: procfs.stat(proc.pid)[0] == 'Z', timeout=10)
    assert not procfs.running(proc.pid)
    assert procfs.processes(marker) == []
    proc.wait()
    assert procfs.stat(proc.pid) is None
    assert not procfs.running(proc.pid)
    assert procfs.cmdline(proc.pid) == b''
