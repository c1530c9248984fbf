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
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue        # ended meanwhile
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        party = _party(int(entry), comm, named)
        if party is None:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        found[int(entry)] = (party, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def delta(before, after):
    """{party: CPU seconds} spent between two snapshots."""
    spent = {}
    for pid, (party, seconds) in after.items():
        spent[party] = spent.get(party, 0.0) + seconds - before.get(pid, (party, 0.0))[1]
    return spent
