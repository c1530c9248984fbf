"""``move-orchestrator demo --driver libvirt`` as an operator runs it: a
process of its own that starts its own libvirt hosts, moves real domains
and leaves nothing behind."""

import glob
import os
import subprocess
import sys

import pytest

from move_orchestrator.cli import exitcodes
from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.libvirt import daemons

PREFIX = '/tmp/mo-demo-'
# Each test checks that no demo's directory is left: on one xdist worker,
# one demo at a time.
pytestmark = pytest.mark.xdist_group('libvirt-demo')


def _demo(tmp_path, env=None):
    conf = tmp_path / 'demo.conf'
    conf.write_text('[database]\nconnection = sqlite:///%s\n' % (tmp_path / 'demo.db'))
    proc = subprocess.run(
        [sys.executable, '-m', 'move_orchestrator.cli.main', '--config-file',
         str(conf), 'demo', '--driver', 'libvirt'],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
        env=env)
    return proc.returncode, proc.stdout, proc.stderr


def _made_meanwhile(before):
    """The demo directories that appeared since ``before``, each with
    what is in it and which processes name it or run a libvirt demo: any
    demo on the machine makes them, so a failure says whose it was."""
    made = set(glob.glob(PREFIX + '*')) - before
    demos = ['%d: %s' % (pid, procfs.cmdline(pid).replace(b'\0', b' ').decode(
        errors='replace')) for pid in procfs.processes('demo', '--driver', 'libvirt')]
    return {d: {'holds': sorted(os.listdir(d)) if os.path.isdir(d) else None,
                'named by': procfs.processes(d), 'libvirt demos': demos}
            for d in made}


def _mounts_of(prefix):
    with open('/proc/self/mountinfo') as f:
        return [line for line in f if prefix in line]


def test_demo_with_libvirt(libvirt_hosts, tmp_path):
    before = set(glob.glob(PREFIX + '*'))
    code, out, err = _demo(tmp_path)
    assert code == exitcodes.OK, (out + err)[-3000:]
    assert 'audit: no violations' in out
    for move_type in ('live-migrate', 'cold-migrate', 'resize', 'evacuate'):
        assert move_type in out
    assert out.count('completed') >= 4 and 'reverted' in out
    assert 'aborted' in out
    assert 'nothing is left behind' in out
    # Everything went as the demo meant, the operator's abort included:
    # nothing to warn of.
    assert ' WARNING ' not in err and ' ERROR ' not in err, err
    # Its daemons, QEMUs, sockets, mounts and disks: all gone.
    assert _made_meanwhile(before) == {}
    assert procfs.processes(PREFIX) == []
    assert _mounts_of(PREFIX) == []
    # The session's own hosts were left alone.
    assert all(h.proc.poll() is None for h in libvirt_hosts)


def test_demo_without_libvirt_says_what_to_install(tmp_path):
    before = set(glob.glob(PREFIX + '*'))
    # No libvirtd nor QEMU on this PATH.
    env = dict(os.environ, PATH=str(tmp_path))
    code, out, err = _demo(tmp_path, env=env)
    assert code == exitcodes.ERROR, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('Error: '), err
    assert daemons.INSTALL in lines[0]
    assert _made_meanwhile(before) == {}
    assert not os.path.exists(tmp_path / 'demo.db')     # nothing done
