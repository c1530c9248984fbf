"""bench_libvirt's report: its figures, and where (b)'s own part goes."""

import statistics


def report(args, results, n, goals):
    med = {k: statistics.median(s['whole'] for s in v) for k, v in results.items()}
    windows = [s['migration'] for s in results['libvirt'] if s.get('migration')]
    jobs = {k: [s['job'] for s in results[k] if s.get('job')] for k in ('bare', 'libvirt')}
    print('live migration of a %d MiB guest (%d MiB filled), two hosts sharing '
          'storage, medians of %d:' % (args.libvirt_ram_mb, args.libvirt_ram_mb - 16, n))
    print('  (a) bare migrateToURI3                  %.3f s' % med['bare'])
    for kind, label in (('libvirt', '(b) our move, libvirt driver via agents'),
                        ('qemu', '(c) our move, qemu driver, embedded   ')):
        ratio = med[kind] / med['bare']
        print('  %s %.3f s  %.2fx (a)  goal <= %.1fx: %s' % (
            label, med[kind], ratio, goals[kind],
            'met' if ratio <= goals[kind] else 'NOT met'))
    if windows:
        print('  (b)\'s migration window (PrepareIncoming to SwitchOverMigration): '
              '%.3f s' % statistics.median(windows))
    if all(jobs.values()):
        print('  libvirt\'s own job (time elapsed / downtime), medians: (a) %s, (b) %s'
              % tuple('%.3f s / %.0f ms' % (
                  statistics.median(j['elapsed'] for j in jobs[k]),
                  1000 * statistics.median(j['downtime'] for j in jobs[k]))
                  for k in ('bare', 'libvirt')))
        # Why one job takes longer than the other: more passes over the
        # memory (a guest that dirtied more meanwhile), or a slower copy.
        print('  libvirt\'s own job, medians: (a) %s; (b) %s' % tuple(', '.join(
            '%s %.*f' % (label, digits, statistics.median(j[key] for j in jobs[k]))
            for label, key, digits in (('setup s', 'setup', 3),
                                       ('passes', 'iterations', 1),
                                       ('sent MiB', 'sent_mb', 0),
                                       ('MiB/s', 'mb_s', 0)))
            for k in ('bare', 'libvirt')))
        for k, label in (('bare', '(a)'), ('libvirt', '(b)')):
            print('  %s libvirt\'s job per sample, in order (s): %s' % (
                label, ' '.join('%.2f' % j['elapsed'] for j in jobs[k])))
    beyond = {k: [s['whole'] - s['job']['elapsed'] for s in results[k] if s.get('job')]
              for k in ('bare', 'libvirt')}
    if all(beyond.values()):
        # Whole minus libvirt's own job, sample by sample: (a)'s is libvirt's
        # own confirmation and the source's end; what (b) spends beyond it
        # is ours (steps, round trips to the agents, commits).
        outside = {k: statistics.median(v) for k, v in beyond.items()}
        print('  beyond libvirt\'s job (whole - its elapsed), medians: (a) %.3f s, '
              '(b) %.3f s: ours %.3f s (goal: %.3f s)' % (
                  outside['bare'], outside['libvirt'],
                  outside['libvirt'] - outside['bare'],
                  (goals['libvirt'] - 1) * med['bare']))
        _print_ours(results['libvirt'], outside['bare'])
    _print_after_arrival(results)
    _print_agent_calls(results['libvirt'])
    print('  CPU per move (medians, ms): %s' % '; '.join(
        '%s %s' % (label, ', '.join(
            '%s %.0f' % (party, 1000 * statistics.median(s['cpu'].get(party, 0.0)
                                                         for s in results[kind]))
            for party in parties))
        for kind, label, parties in (
            ('bare', '(a)', ('qemu', 'libvirt daemons')),
            ('libvirt', '(b)', ('qemu', 'libvirt daemons', 'conductor (b)', 'agents (b)',
                                'rabbitmq')),
            ('qemu', '(c)', ('qemu', 'conductor (c)')))))
    steps = {}
    for sample in results['libvirt']:
        for name, seconds in sample.get('steps', {}).items():
            steps.setdefault(name, []).append(seconds)
    slowest = sorted(((statistics.median(v), k) for k, v in steps.items()), reverse=True)
    print('  (b)\'s steps, slowest first (medians, ms): %s' % ', '.join(
        '%s %.1f' % (name, 1000 * seconds) for seconds, name in slowest))


def _print_ours(samples, libvirt_beyond):
    """Where (b)'s own part goes, medians: no step (admission, between
    steps, the waiter), TransferMemory beyond libvirt's work (its job and
    what (a) spends outside it), and the other steps."""
    parts = {'outside any step': [], 'TransferMemory beyond libvirt': [],
             'the other steps': []}
    for s in samples:
        steps = s.get('steps', {})
        if not (s.get('job') and 'TransferMemory' in steps and 'outside_steps' in s):
            continue
        parts['outside any step'].append(s['outside_steps'])
        parts['TransferMemory beyond libvirt'].append(
            steps['TransferMemory'] - s['job']['elapsed'] - libvirt_beyond)
        parts['the other steps'].append(
            sum(v for k, v in steps.items() if k != 'TransferMemory'))
    if all(parts.values()):
        print('  (b)\'s own part (medians): %s' % ', '.join(
            '%s %.3f s' % (k, statistics.median(v)) for k, v in parts.items()))


def _print_after_arrival(results):
    """What each kind does after libvirt resumed the guest on the
    destination (its lifecycle event): (a)'s call returns (the source QEMU
    ended), (b)'s destination ports become active and its move ends. Until
    the ports are active, the guest runs where its network does not follow
    it yet."""
    def after(kind, key):
        return [1000 * (s[key] - s['resumed_at']) for s in results[kind]
                if s.get('resumed_at') and s.get(key)]
    bare, ports, end = (after('bare', 'ended_at'), after('libvirt', 'ports_active_at'),
                        after('libvirt', 'ended_at'))
    if bare and ports and end:
        print('  after the guest runs on the destination (libvirt\'s event), medians: '
              '(a) migrateToURI3 returns +%.0f ms; (b) the destination\'s ports are '
              'active +%.0f ms, the move completed +%.0f ms' % tuple(
                  statistics.median(v) for v in (bare, ports, end)))


def _print_agent_calls(samples):
    """(b)'s calls to the agents per move, by method: how many, and the
    median of each (a round trip, or longer for a call that waits)."""
    counts, times = [], {}
    for s in samples:
        counts.append(len(s.get('agent_calls', ())))
        for method, ms in s.get('agent_calls', ()):
            times.setdefault(method, []).append(ms)
    if not any(counts):
        return
    print('  (b)\'s calls to the agents per move: %d (median); by method, calls '
          'per move x median ms: %s' % (statistics.median(counts), ', '.join(
              '%s %.3gx%.1f' % (method, len(v) / len(samples), statistics.median(v))
              for method, v in sorted(times.items(), key=lambda kv: -sum(kv[1])))))
