"""What /proc says of a process (command line, state, parent), and live
processes found by their command line.

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


def stat(pid):
    """(state, parent's pid) of pid; None once it is gone, also when it
    went between the open and the read (ESRCH)."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def running(pid):
    """pid exists and is not a zombie (nor dying)."""
    found = stat(pid)
    return found is not None and found[0] not in ('Z', 'X')


def processes(*needles):
    """Pids of live (not zombie) processes whose command line contains
    every one of needles."""
    wanted = [n.encode() for n in needles]
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        line = cmdline(pid)
        if all(n in line for n in wanted) and running(pid):
            pids.append(int(pid))
    return pids
