"""The CPU each party of a benchmarked move uses, from /proc.

Why: on a 2-core machine our conductor, agents and RabbitMQ compete with
both QEMUs and libvirt's daemons for the cores, so what they burn while the
memory copy runs lengthens the copy itself; and a cloud pays for each
conductor and agent core. Wall times are noisy beside other engineers'
tests; CPU counts are not. A snapshot is the user and system time of every
process, keyed by pid with the party it belongs to; the delta of two says
what each party spent between them (a process that ended in between is not
counted).
"""

import os

TICK = os.sysconf('SC_CLK_TCK')


def stat(path):
    """(command name, utime, stime, minor faults) of a /proc stat file (in
    ticks), or None for a process or thread that has ended."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    comm, _, rest = text[text.index('(') + 1:].rpartition(')')
    fields = rest.split()
    return comm, int(fields[11]), int(fields[12]), int(fields[7])


def _party(pid, comm, named):
    if pid in named:
        return named[pid]
    if comm.startswith('qemu-system'):
        return 'qemu'
    if comm in ('libvirtd', 'virtqemud', 'virtlogd'):
        return 'libvirt daemons'
    if comm == 'beam.smp':
        return 'rabbitmq'
    return None


def snapshot(named):
    """{pid: (party, seconds)} of the processes of ``named`` ({pid: party})
    and of QEMU, libvirt's daemons and RabbitMQ, found by their names."""
    found = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        read = stat('/proc/%s/stat' % entry)
        party = read and _party(int(entry), read[0], named)
        if party:
            found[int(entry)] = (party, (read[1] + read[2]) / TICK)
    return found


def delta(before, after):
    """{party: CPU seconds} spent between two snapshots."""
    spent = {}
    for pid, (party, seconds) in after.items():
        spent[party] = spent.get(party, 0.0) + seconds - before.get(pid, (party, 0.0))[1]
    return spent
