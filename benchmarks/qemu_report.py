"""What the qemu benchmark prints: medians per kind, per phase, and each
goal of issue 13's item 7 beside its figure."""

import datetime
import functools
import statistics

from benchmarks import engine_floor
from benchmarks import resample
from move_orchestrator.moves import types as move_types

KINDS = ('bare', 'held', 'driver', 'orchestrated')
#: the rounds' samples of TaskFlow's no-op floor ({'wall': seconds})
FLOOR = 'floor'
#: the downtime goals' margin over a baseline, ms
MARGIN_MS = 2


def _med(results, kind, key):
    """The median of key (a sample's field, or a function of the sample)
    over kind's samples that have it."""
    get = key if callable(key) else (lambda r: r.get(key))
    values = [v for v in map(get, results[kind]) if v is not None]
    return statistics.median(values) if values else float('nan')


def _outside(r):
    """An orchestrated sample's time outside its migration window."""
    return r['whole'] - r['migration']


def _own(r):
    """Of it, the orchestration's own: less the drivers' calls."""
    return r['whole'] - r['migration'] - r['world']


def report(args, results, poll):
    med = functools.partial(_med, results)

    n = args.qemu_moves
    print('live migration of a %d MiB guest (%d MiB filled), two hosts sharing '
          'storage, medians of %d, poll_interval %g ms, permit_post_copy %s:'
          % (args.qemu_ram_mb, args.qemu_ram_mb - 16, n, poll * 1000,
             args.qemu_post_copy))
    if args.qemu_nice is not None:
        print('  every QEMU\'s scheduling group at nice %d (--qemu-nice)'
              % args.qemu_nice)
    print('  %-13s %9s %11s %10s %8s %8s %8s' % (
        '', 'whole ms', 'migration', 'downtime', 'pause', 'sw wait', 'sent'))
    for kind in KINDS:
        print('  %-13s %9.1f %11.1f %10.1f %8.1f %8.2f %8.0f' % (
            kind, med(kind, 'whole') * 1000, med(kind, 'migration') * 1000,
            med(kind, 'downtime'), med(kind, 'pause'), med(kind, 'wait'),
            med(kind, 'sent')))
    print('  (whole: bare = start the destination, migrate, quit the source; '
          'held = bare, paused at\n   pre-switchover and continued at once by '
          'the same client; orchestrated = move_instance + wait_task, completed.\n'
          '   migration: from starting the destination (orchestrated: '
          'PrepareIncoming\'s start) to its RESUME\n   (QEMU\'s timestamp); '
          'downtime: QEMU\'s, ms;\n   pause: the guest\'s, from the '
          'source\'s STOP to the destination\'s RESUME (QEMU\'s events), ms;\n'
          '   sw wait: the source at pre-switchover until continued, ms; '
          'sent: MiB)')
    phases = ' '.join('%s %.1f' % (p, statistics.median(
        r['phases'].get(p, 0) for r in results['orchestrated']) * 1000)
        for p in ('claim', 'pre-check', 'transfer', 'switch-over', 'cleanup'))
    print('  orchestrated per phase (ms, steps only): %s' % phases)
    print('  to the end of the client\'s work (bare: RESUME received; driver: '
          'confirm_arrival returned;\n   orchestrated: SwitchOverMigration\'s '
          'end, its bookkeeping included): %s' % ' '.join(
              '%s %.1f' % (kind, med(kind, 'to_end') * 1000) for kind in KINDS))
    print('  orchestrated outside the migration (claim, pre-checks, '
          'bookkeeping, cleanup; median of whole - migration): %.1f ms'
          % (med('orchestrated', _outside) * 1000))
    print('  of it, the steps\' calls to the hypervisor and the network '
          '(world_calls.py): %.1f ms; the orchestration\'s own: %.1f ms' % (
              1000 * med('orchestrated', 'world'), 1000 * med('orchestrated', _own)))
    steps = len(move_types.get('live-migrate').steps)
    print('  TaskFlow alone, running %d no-op tasks in memory: %.1f ms in the '
          'rounds (the goals\' floor),\n   %.1f ms now, after them' % (
              steps, med(FLOOR, 'wall') * 1000,
              engine_floor.linear_wall_s(steps) * 1000))
    print('  whole move, orchestrated / bare:    %.2fx' % (
        med('orchestrated', 'whole') / med('bare', 'whole')))
    print('  migration, driver / bare:           %.2fx' % (
        med('driver', 'migration') / med('bare', 'migration')))
    for line in marks_lines(results):
        print('  ' + line)
    copy_lines(results)
    print("  driver / orchestrated: QEMU's total-time %.0f / %.0f ms; CPU of "
          'this process %.0f / %.0f ms and of the destination QEMU %.0f / %.0f '
          'ms\n   (driver: preparing to confirm_arrival; orchestrated: the '
          'whole move, the conductor\'s threads included)' % tuple(
              med(k, f) for f in (
                  lambda r: r['qemu']['total-time'],
                  lambda r: r['whole_cpu']['ours'],
                  lambda r: r['whole_cpu']['qemu_dest'])
              for k in ('driver', 'orchestrated')))
    print('  goals (issue 13, item 7), orchestrated against bare QMP:')
    for line in goal_lines(results):
        print('    ' + line)
    for kind in KINDS:
        print('  %-12s whole (ms): %s' % (kind, ' '.join(
            '%.0f' % (r['whole'] * 1000) for r in results[kind])))
    for kind in KINDS:
        print("  %-12s QEMU's downtime / guest pause (ms): %s" % (
            kind, ' '.join('%s/%s' % (r.get('downtime'), '%.0f' % r['pause']
                                      if r.get('pause') is not None else '-')
                           for r in results[kind])))
    for kind in KINDS:
        print("  %-12s QEMU's total-time / destination CPU (ms): %s" % (
            kind, ' '.join('%s/%s' % (
                (r.get('qemu') or {}).get('total-time'),
                '%.0f' % r['whole_cpu']['qemu_dest'] if r.get('whole_cpu') else '-')
                for r in results[kind])))


def _epoch(iso):
    return datetime.datetime.fromisoformat(iso).timestamp()


def marks(doc, called, accepted, answered, resumed):
    """Where an orchestrated move's time outside the migration goes: the
    time between consecutive marks, in seconds, by the task record's own
    timestamps (epoch ``called`` before move_instance, ``accepted`` when it
    returned, ``answered`` when wait_task did, ``resumed`` the guest's
    RESUME on the destination)."""
    subs = {s['name']: s for s in doc['subtasks']}
    steps = sorted(doc['subtasks'], key=lambda s: s['started'])
    points = (
        ('move_instance: validated, written', _epoch(doc['created'])),
        ('  and answered', accepted),
        ('to the first step', _epoch(steps[0]['started'])),
        ('claim and pre-checks (to PrepareIncoming)',
         _epoch(subs['PrepareIncoming']['started'])),
        ('the migration window (to RESUME)', resumed),
        ('to the copy step\'s end', _epoch(subs['TransferMemory']['finished'])),
        ('to the next step (the point of no return)',
         _epoch(subs['SwitchOverMigration']['started'])),
        ('SwitchOverMigration', _epoch(subs['SwitchOverMigration']['finished'])),
        ('the %d steps after it' % (len(steps) - steps.index(
            subs['SwitchOverMigration']) - 1), _epoch(steps[-1]['finished'])),
        ('to the move\'s end (completed)', _epoch(doc['finished'])),
        ('to wait_task\'s answer', answered))
    found, before = [], called
    for what, at in points:
        found.append((what, at - before))
        before = at
    return found


def marks_lines(results):
    samples = [r['marks'] for r in results['orchestrated'] if r.get('marks')]
    if not samples:
        return []
    # The slowest move beside the medians: where a run's outlier lost its
    # time, the one figure a median hides.
    slowest = max((r for r in results['orchestrated'] if r.get('marks')),
                  key=lambda r: r['whole'])['marks']
    lines = ['where the orchestrated move\'s time goes (ms from the mark '
             'before; task record\'s timestamps):',
             '  %-46s %7s %9s' % ('', 'median', 'slowest')]
    for i, (what, _) in enumerate(samples[0]):
        lines.append('  %-46s %7.1f %9.1f' % (what, statistics.median(
            s[i][1] for s in samples) * 1000, slowest[i][1] * 1000))
    return lines


def goal_figures(results):
    """Item 7's figures of one run's results ({kind: [sample]}), the
    fixed cost against the floor measured in the same rounds."""
    med = functools.partial(_med, results)
    window = med('orchestrated', 'migration')
    found = {'window': window / med('bare', 'migration'),
             'window_driver': window / med('driver', 'migration')}
    for key in ('downtime', 'pause'):
        for base in ('bare', 'held'):
            found[key, base] = med('orchestrated', key) - med(base, key)
    floor = med(FLOOR, 'wall')
    found['outside'] = med('orchestrated', _outside) / floor
    found['own'] = med('orchestrated', _own) / floor
    return found


def goal_lines(results):
    """Each figure of issue 13's item 7 beside its goal, whether it is
    met, and whether the run decided it (resample.py): the figure's
    interval over the run's rounds drawn again lies wholly on one side."""
    med = functools.partial(_med, results)
    kinds = KINDS + (FLOOR,)
    rounds = [{k: results[k][i] for k in kinds}
              for i in range(len(results['bare']))]
    spread = resample.intervals(rounds, lambda drawn: goal_figures(
        {k: [r[k] for r in drawn] for k in kinds}))
    found = goal_figures(results)
    floor = med(FLOOR, 'wall')

    def verdict(name, goal, unit):
        low, high = spread[name]
        return '%s; %d %% of resampled runs %s-%s%s: %s' % (
            'met' if found[name] <= goal else 'MISSED',
            100 * resample.LEVEL, _fmt(low), _fmt(high), unit,
            'decided' if resample.decided(low, high, goal)
            else 'NOT DECIDED by this run')

    lines = ['migration window %.2fx bare (%.1f / %.1f ms; goal <= 1.05x): %s' % (
        found['window'], med('orchestrated', 'migration') * 1000,
        med('bare', 'migration') * 1000, verdict('window', 1.05, 'x')),
        # What the conductor adds to the host side's own (records written
        # before each act, the watchers, the pause before the switch-over:
        # what items 1, 2 and 6 ask for, and bare QMP does without).
        'migration window %.2fx the driver\'s alone (%.1f / %.1f ms; proposed '
        'goal <= 1.05x): %s' % (
            found['window_driver'], med('orchestrated', 'migration') * 1000,
            med('driver', 'migration') * 1000,
            verdict('window_driver', 1.05, 'x'))]
    for key, what in (('downtime', "QEMU's downtime"),
                      ('pause', "guest pause (QEMU's events)")):
        for base, goal in (('bare', 'goal'), ('held', 'proposed goal')):
            ref = med(base, key)
            lines.append('%s %.1f ms against %s %.1f ms (%s <= %s + %d = '
                         '%.1f ms): %s' % (
                             what, med('orchestrated', key), base, ref, goal,
                             base, MARGIN_MS, ref + MARGIN_MS,
                             verdict((key, base), MARGIN_MS, ' ms over ' + base)))
    outside = found['outside'] * floor
    lines.append('fixed cost outside the migration %.1f ms = %.1fx '
                 "TaskFlow's no-op floor %.1f ms (goal <= 3x): %s" % (
                     outside * 1000, found['outside'], floor * 1000,
                     verdict('outside', 3, 'x')))
    lines.append("the orchestration's own part of it %.1f ms = %.1fx the floor "
                 '(proposed goal <= 3x): %s' % (
                     found['own'] * floor * 1000, found['own'],
                     verdict('own', 3, 'x')))
    return lines


def _fmt(value):
    return '%.2f' % value if abs(value) < 10 else '%.1f' % value


def copy_lines(results):
    """The copy of bare QMP and of the driver side by side: CPU used
    from ``migrate`` to the guest running on the destination, QMP traffic
    of this process, and QEMU's own figures (query-migrate)."""
    kinds = [k for k in ('bare', 'driver') if any('cpu' in r for r in results[k])]
    if not kinds:
        return

    def med(kind, get):
        values = [get(r) for r in results[kind] if r.get('cpu')]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float('nan')

    rows = (
        ('before: destination started, migrate sent, ms',
         lambda r: r['prep']['wall']),
        ('  our process, CPU ms', lambda r: r['prep']['ours']),
        ('  watchers and other children, CPU ms', lambda r: r['prep']['watchers']),
        ('  destination QEMU, CPU ms', lambda r: r['prep']['qemu_dest']),
        ('the copy: our process, CPU ms', lambda r: r['cpu']['ours']),
        ('watchers (switch-over, arrival), CPU ms, to a tick',
         lambda r: r['cpu']['watchers']),
        ('source QEMU, CPU ms', lambda r: r['cpu']['qemu_source']),
        ('destination QEMU, CPU ms', lambda r: r['cpu']['qemu_dest']),
        ('  of it in the kernel', lambda r: r['cpu']['qemu_dest_sys']),
        ('  its main thread waiting for a core, ms',
         lambda r: r['cpu']['qemu_dest_runqueue']),
        ('QMP commands sent (this process)', lambda r: r['cpu']['commands']),
        ('QMP connections (this process)', lambda r: r['cpu']['connects']),
        ("QEMU's total-time, ms", lambda r: r['qemu']['total-time']),
        ("QEMU's setup-time, ms", lambda r: r['qemu']['setup-time']),
        ("QEMU's downtime, ms", lambda r: r['qemu']['downtime']),
        ('dirty-sync-count', lambda r: r['qemu']['dirty-sync-count']),
        ('pages-per-second', lambda r: r['qemu']['pages-per-second']),
        ('transferred, MiB', lambda r: (r['qemu']['transferred'] or 0) / (1 << 20)),
    )
    print('  bare QMP and the driver before and during the copy (from migrate '
          'to the guest\n  running on the destination), medians:')
    print('    %-46s %s' % ('', ' '.join('%10s' % k for k in kinds)))
    for what, get in rows:
        print('    %-46s %s' % (what, ' '.join('%10.1f' % med(k, get) for k in kinds)))
