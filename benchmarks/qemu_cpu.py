"""Where the CPU goes while a benchmarked migration copies the guest.

Why: on a 2-core machine the source's vCPU and migration threads, the
destination QEMU and our own processes (the client, the switch-over and
arrival watchers) compete for the cores, so a client that burns CPU (or
keeps QEMU's monitor busy) during the copy slows the copy itself. Wall
times are noisy beside other engineers' tests; CPU counts and QEMU's own
figures are not. A ``Probe`` snapshots, between two points of one sample,
the CPU of this process, of its reaped children and of its spares' (the
watchers, once they ended), of the live watchers and of both QEMUs (per thread), and counts
the QMP commands and connections this process made.
"""

import os
import resource
import time

from benchmarks import process_cpu
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import watchers as qemu_watchers

TICK = process_cpu.TICK
# query-migrate's figures of the copy, kept per sample.
FIGURES = ('total-time', 'setup-time', 'downtime', 'expected-downtime')
RAM_FIGURES = ('transferred', 'dirty-sync-count', 'pages-per-second', 'mbps',
               'dirty-pages-rate', 'normal', 'duplicate')


class _Counter:
    """QMP commands and connections of this process's clients."""
    commands = 0
    connects = 0
    installed = False


def count_qmp():
    """Count every QMP command this process sends (once per process)."""
    if _Counter.installed:
        return
    execute, connect = qmp.QMPClient.execute, qmp.QMPClient.connect

    def counted_execute(self, command, **arguments):
        _Counter.commands += 1
        return execute(self, command, **arguments)

    def counted_connect(self):
        _Counter.connects += 1
        return connect(self)

    qmp.QMPClient.execute = counted_execute
    qmp.QMPClient.connect = counted_connect
    _Counter.installed = True


def _stat(path):
    """(utime, stime, minor faults) of a /proc stat file, or None."""
    found = process_cpu.stat(path)
    return found and found[1:]


def _runqueue(path):
    """ns a thread (a process's main one) waited for a core, runnable."""
    try:
        with open(path) as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _spares_children_s():
    """CPU seconds of the watchers the spares forked and reaped (their
    children's times; to a tick), as this process's reaped children are
    counted for the watchers it started itself."""
    total = 0
    for pid in qemu_watchers.SPARES.pids().values():
        try:
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[13]) + int(fields[14])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def _ticks(path):
    found = _stat(path)
    return None if found is None else found[0] + found[1]


def _runtime_ms(pid):
    """ms of CPU a one-threaded process (a watcher) has run, to the ns
    (schedstat): the ticks of /proc/<pid>/stat miss most of a 20 ms
    interpreter's start, which the children's figure counts once it is
    reaped."""
    try:
        with open('/proc/%d/schedstat' % pid) as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


def _threads(pid):
    """{tid: CPU ticks} of a live process; under 0 the whole process's
    (threads that ended, the migration's, count there only), under -1 its
    main thread's wait for a core."""
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except (OSError, TypeError):
        return {}
    found = {0: _stat('/proc/%d/stat' % pid) or (0, 0, 0),
             -1: _runqueue('/proc/%d/schedstat' % pid)}
    for tid in tids:
        ticks = _ticks('/proc/%d/task/%s/stat' % (pid, tid))
        if ticks is not None:
            found[int(tid)] = ticks
    return found


def snapshot(qemus, watchers):
    """CPU so far: ``qemus`` {name: pid} per thread, ``watchers`` {name:
    pid} as a whole; this process and its reaped children."""
    me = os.times()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {'at': time.perf_counter(),
            'self': me.user + me.system,
            'children': (children.ru_utime + children.ru_stime
                         + _spares_children_s()),
            'qemu': {name: _threads(pid) for name, pid in qemus.items()},
            'watchers': {name: _runtime_ms(pid) if pid else None
                         for name, pid in watchers.items()},
            'commands': _Counter.commands, 'connects': _Counter.connects}


def delta(a, b):
    """ms of CPU between two snapshots: ours (this process), the watchers
    (alive at either, or reaped since) and other children reaped, each
    QEMU (started since: its whole life) and its busiest threads."""
    out = {'wall': (b['at'] - a['at']) * 1000,
           'ours': (b['self'] - a['self']) * 1000,
           'commands': b['commands'] - a['commands'],
           'connects': b['connects'] - a['connects']}
    # A watcher reaped in between is in the children's figure with its
    # whole life: less what it had used at the first snapshot.
    watchers = (b['children'] - a['children']) * 1000
    for name in set(a['watchers']) | set(b['watchers']):
        before, after = a['watchers'].get(name), b['watchers'].get(name)
        if before is None and after is not None:    # started in between
            watchers += after
        elif before is not None:
            watchers += (after - before) if after is not None else -before
    out['watchers'] = watchers
    for name, threads in b['qemu'].items():
        threads = dict(threads)
        old = a['qemu'].get(name, {})
        waited = threads.pop(-1, 0) - old.get(-1, 0)
        whole = [x - y for x, y in zip(threads.pop(0, (0, 0, 0)),
                                       old.get(0, (0, 0, 0)))]
        per = sorted(((t - old.get(tid, 0)) * 1000 / TICK
                      for tid, t in threads.items()), reverse=True)
        out['qemu_' + name] = (whole[0] + whole[1]) * 1000 / TICK
        out['qemu_%s_sys' % name] = whole[1] * 1000 / TICK
        out['qemu_%s_faults' % name] = whole[2]
        # The destination loads the stream in its main thread: the time
        # it was ready to and had no core is what the others took.
        out['qemu_%s_runqueue' % name] = waited / 1e6
        out['qemu_%s_top' % name] = per[:3]
    return out


def figures(info):
    """query-migrate's own figures of a finished copy."""
    ram = info.get('ram') or {}
    found = {k: info.get(k) for k in FIGURES}
    found.update({k: ram.get(k) for k in RAM_FIGURES})
    return found


def compact_memory():
    """Give every sample's QEMU the same chance of huge pages for its RAM.

    QEMU asks for transparent huge pages; on a machine whose memory got
    fragmented (by the QEMU processes of the samples before, say) faulting
    the destination's RAM in takes several times longer, and a migration
    twice as long: compacting first (root only) takes that out of the
    comparison. Returns whether it could.
    """
    try:
        with open('/proc/sys/vm/compact_memory', 'w') as f:
            f.write('1')
        return True
    except OSError:
        return False


def prioritize_qemus(nice):
    """Every QEMU started from here on gets ``nice`` for its scheduling
    group, until the returned function is called.

    Why: this machine plays both hosts and the conductor on two cores, so
    whatever else runs (the conductor's threads, the watchers, a client)
    takes a core from the copy, which a conductor on a controller node and
    hosts with cores to spare would not. A daemonized QEMU leads a session
    of its own, and so, where the kernel groups sessions
    (``sched_autogroup_enabled``), a scheduling group of its own: its
    ``/proc/<pid>/autogroup`` nice weighs the whole QEMU against everything
    else. Every kind gets it alike. A negative nice needs root.
    """
    try:
        with open('/proc/sys/kernel/sched_autogroup_enabled') as f:
            enabled = f.read().strip() == '1'
    except OSError:
        enabled = False
    if not enabled:
        raise SystemExit('--qemu-nice: the kernel does not group sessions '
                         '(kernel.sched_autogroup_enabled is not 1)')
    if nice < 0 and os.geteuid() != 0:
        raise SystemExit('--qemu-nice %d: a negative nice needs root' % nice)
    start = process.Domain.start

    def prioritized_start(self, *args, **kwargs):
        start(self, *args, **kwargs)
        with open('/proc/%d/autogroup' % self.pid(), 'w') as f:
            f.write(str(nice))

    process.Domain.start = prioritized_start

    def undo():
        process.Domain.start = start
    return undo
