"""Live processes found by their command line, from /proc.

The hosts the project starts for itself (libvirtd daemons, QEMU guests of
the demos and tests) are found this way to be stopped, and to prove that
nothing outlived them; no pid file survives a SIGKILL of their parent.
"""

import os


def cmdline(pid):
    """pid's command line as bytes, NULs kept (b'' once it is gone)."""
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            return f.read()
    except OSError:
        return b''


def processes(*needles):
    """Pids of live (not zombie) processes whose command line contains
    every one of needles."""
    wanted = [n.encode() for n in needles]
    pids = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        line = cmdline(pid)
        try:
            with open('/proc/%s/stat' % pid) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if all(n in line for n in wanted) and state not in ('Z', 'X'):
            pids.append(int(pid))
    return pids
