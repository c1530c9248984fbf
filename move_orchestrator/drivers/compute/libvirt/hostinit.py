"""Inside a new mount + UTS namespace: make this a libvirt "host", then run
libvirtd under a parent that reaps orphans at once.

Run by daemons.py as ``unshare -m -u --propagation private python3
hostinit.py ROOT HOSTNAME``. A root libvirtd always uses /etc/libvirt,
/var/lib/libvirt and /run/libvirt: overlays on /var and /run, ROOT/etc on
/etc/libvirt and a passwd that has the ``libvirt-qemu`` user (libvirtd looks
it up before it reads qemu.conf) give each daemon its own. The namespace's
mounts go with its last process, so nothing is left mounted.

The parent is a child subreaper: a source QEMU that libvirt ends is reaped
here at once, not by the machine's init (which here reaps orphans only every
second or so, and libvirt waits for it: each migration took 1-2 s longer).
"""

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def mount(*args):
    subprocess.run(('mount',) + args, check=True)


def overlay(root, target):
    name = target.strip('/').replace('/', '_')
    upper, work = (os.path.join(root, 'ovl', name, d) for d in ('up', 'work'))
    os.makedirs(upper)
    os.makedirs(work)
    mount('-t', 'overlay', 'overlay', '-o', 'lowerdir=%s,upperdir=%s,workdir=%s'
          % (target, upper, work), target)


def main(root, hostname):
    overlay(root, '/var')
    overlay(root, '/run')
    for path in ('/var/lib/libvirt', '/var/log/libvirt', '/var/cache/libvirt',
                 '/run/libvirt'):
        os.makedirs(path, exist_ok=True)      # in the overlays only
    # /etc/libvirt may be missing on the machine: mount on a new overlay
    # of /etc would do, a bind of /etc/passwd and of our etc is enough.
    mount('--bind', os.path.join(root, 'passwd'), '/etc/passwd')
    mount('--bind', os.path.join(root, 'group'), '/etc/group')
    mount('--bind', os.path.join(root, 'etc'), '/etc/libvirt')
    subprocess.run(['hostname', hostname], check=True)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # The configuration by its path under root: the daemon is found by it.
    argv = ['libvirtd', '-f', os.path.join(root, 'etc', 'libvirtd.conf')]
    daemons = [subprocess.Popen(argv)]
    restarting = []

    def forward(signum, _frame):
        daemons[-1].send_signal(signum)

    def restart(_signum, _frame):
        # SIGUSR1: end the daemon and start it again; its QEMUs go on (as
        # a libvirtd restarted on a real host).
        restarting.append(daemons[-1].pid)
        daemons[-1].send_signal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGUSR1, restart)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid in restarting:
            restarting.remove(pid)
            daemons.append(subprocess.Popen(argv))
        elif pid == daemons[-1].pid:
            left = orphans()
            if left:
                # QEMUs the daemon left running: nothing may outlive a host.
                print('killing what libvirtd left: %s' % left, flush=True)
                for child in left:
                    os.kill(child, signal.SIGKILL)


def orphans():
    """Our children now that libvirtd is gone: QEMUs it left running."""
    mine = []
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and fields[0] not in ('Z', 'X'):
            mine.append(int(pid))
    return mine


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:3]))
