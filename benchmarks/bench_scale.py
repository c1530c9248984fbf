"""Conductors as a service at scale (issue 10, items 8 and 9).

Conductor processes in jobboard mode on a fresh PostgreSQL database and a
private Redis board (see :mod:`benchmarks.cluster`), moves accepted over
RPC. Three scenarios, each printed with the machine's load beside it (the
machine is shared: compare within one run):

* **throughput**: N cold moves at once on 1 conductor, then N more on 2
  conductors, first with the fake driver at zero delay (CPU-bound: both
  conductors share the machine's cores), then with ``--scale-delay``
  seconds per driver operation (I/O-bound); moves/s and the 2/1 ratio;
* **drain**: ``--scale-hosts`` hosts with ``--scale-instances`` instances
  each drained at once over 2 conductors, every transfer taking
  ``--scale-transfer`` s (fixed), at most 2 outbound moves per host: the
  measured makespan beside the ideal one (:mod:`benchmarks.makespan`),
  the conductors' CPU time (what the machine's cores alone need), and
  where the time went (waiting for a slot, admission to claim, claim to
  end, and how busy the sources' outbound slots were);
* **recovery**: ``--scale-recovery-moves`` moves running on 2 conductors
  (limits off, transfers of ``--scale-recovery-transfer`` s so that they
  are all in flight at once); one conductor is SIGKILLed (its move runner
  and itself) with at least ``--scale-recovery-in-flight`` (200) of them
  in flight, and the time until every move it held is claimed again by
  the other is printed beside the goal (claim expiry + 5 s).

``--scale-only drain,recovery,throughput`` picks scenarios. Quick run:
``--scale-hosts 4 --scale-instances 10 --scale-recovery-moves 40
--scale-storm-moves 40``.
"""

import argparse
import datetime
import os
import threading
import time

import psutil
import sqlalchemy as sa

from benchmarks import makespan

SCENARIOS = ('throughput', 'drain', 'recovery')


def load():
    return '%.1f %.1f %.1f' % os.getloadavg()


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def cpu_seconds(procs):
    """CPU time (user + system) used so far by these conductors and every
    process under them (RPC process, move runner)."""
    total = 0.0
    for proc in procs:
        try:
            top = psutil.Process(proc.proc.pid)
            for p in [top] + top.children(recursive=True):
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def servers_cpu():
    """CPU seconds used so far by the machine's PostgreSQL and Redis
    servers (every process of each), and by the whole machine (busy, not
    idle or waiting for I/O)."""
    used = {'postgresql': 0.0, 'redis': 0.0}
    for p in psutil.process_iter(['name', 'cpu_times']):
        name, times = p.info['name'] or '', p.info['cpu_times']
        if times is None:
            continue
        kind = 'postgresql' if name.startswith('postgres') else \
            'redis' if name.startswith('redis') else None
        if kind:
            used[kind] += times.user + times.system
    t = psutil.cpu_times()
    used['machine'] = sum(t) - t.idle - getattr(t, 'iowait', 0.0)
    return used


def _median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else float('nan')


def profile(services, children, started, makespan_s, per_source, transfer):
    """Where a drain's time went, from its children's records: how long a
    child waited for a slot, how long from its admission to a conductor's
    claim (the board and the dispatcher), how long it ran once claimed,
    and how busy the outbound slots of the sources were."""
    first_claim = {}
    for move_id, events in services.store.events_of(
            [m['id'] for m in children]).items():
        claims = [e['created_at'] for e in events if e['kind'] == 'claim']
        if claims:
            first_claim[move_id] = min(claims)

    def secs(a, b):
        return (b - a).total_seconds() if a and b else None
    made = [secs(started, m['created_at']) for m in children]
    slot_wait = [secs(m['created_at'], m['admitted_at']) for m in children]
    to_claim = [secs(m['admitted_at'], first_claim.get(m['id']))
                for m in children]
    run = [secs(first_claim.get(m['id']), m['finished_at'])
           for m in children]
    held = [secs(m['admitted_at'], m['finished_at']) for m in children]
    busy = sum(h for h in held if h is not None)
    sources = len({m['source_host'] for m in children}) or 1
    print('  profile (median s): child made %.1f after the start, waited '
          '%.2f for a slot, admitted to claimed %.2f, claimed to ended %.2f '
          '(transfer alone %.1f)' % (
              _median(made), _median(slot_wait), _median(to_claim),
              _median(run), transfer))
    print('  outbound slots busy %.0f%% of the makespan (%d sources x %d '
          'slots; a slot is held from admission to the end)' % (
              100.0 * busy / (sources * per_source * makespan_s),
              sources, per_source))


def seed(services, sources, per_source, dests, prefix, power='shutdown'):
    """Source and destination hosts, and per_source instances on each
    source; the instances' uuids, by source host."""
    from move_orchestrator import cloud
    inventory = services.inventory
    if not inventory.list_flavors():
        for name, vcpus, ram, disk in cloud.DEMO_FLAVORS:
            inventory.create_flavor(name, vcpus, ram, disk)
    src = ['%s-src%02d' % (prefix, i) for i in range(sources)]
    dst = ['%s-dst%02d' % (prefix, i) for i in range(dests)]
    for name in src + dst:
        inventory.create_host(name, vcpus=100000, ram_mb=10 ** 8,
                              disk_gb=10 ** 7, cpu_model='Cascadelake',
                              storage_group='local-%s' % name)
    vms = {}
    for host in src:
        vms[host] = [cloud.boot_instance(
            services, '%s-vm%d' % (host, i), host, 'm1.tiny',
            power_state=power)['uuid'] for i in range(per_source)]
    return src, dst, vms


def _counts(services, ids):
    """{state: count} of these moves, read in one query."""
    from move_orchestrator.db import models
    m = models.Move.__table__
    found = {}
    with services.db.reader() as s:
        for chunk in range(0, len(ids), 500):
            for state, n in s.execute(
                    sa.select(m.c.state, sa.func.count())
                    .where(m.c.id.in_(ids[chunk:chunk + 500]))
                    .group_by(m.c.state)):
                found[state] = found.get(state, 0) + n
    return found


def _ended(counts):
    from move_orchestrator import states
    return sum(n for s, n in counts.items() if s in states.TERMINAL_STATES)


def submit(c, uuids, dests, threads=8):
    """Move every instance at once (``threads`` RPC clients); the ids."""
    from move_orchestrator import context
    admin = context.get_admin_context()
    ids, lock, todo = [], threading.Lock(), list(enumerate(uuids))

    def client():
        while True:
            with lock:
                if not todo:
                    return
                i, uuid = todo.pop()
            doc = c.api.move_instance(admin, uuid, live=False,
                                      destination=dests[i % len(dests)])
            with lock:
                ids.append(doc['id'])
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return ids


def wait_ended(services, ids, timeout):
    deadline = time.monotonic() + timeout
    while True:
        counts = _counts(services, ids)
        if _ended(counts) == len(ids) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def throughput(c, args):
    print('throughput: %d cold moves at once over RPC on 1, then 2 '
          'conductors (%d workers each), PostgreSQL + Redis jobboard, '
          'limits off' % (args.scale_storm_moves, args.scale_workers),
          flush=True)
    n = args.scale_storm_moves
    for delay in (0.0, args.scale_delay):
        rates = {}
        for count in (1, 2):
            tag = 'tp%d%d' % (int(delay * 1000), count)
            procs = c.start(count, tag, workers=args.scale_workers,
                            delay=delay)
            _, dst, vms = seed(c.services, 10, -(-n // 10), 10, tag)
            uuids = [u for host in sorted(vms) for u in vms[host]][:n]
            t0 = time.monotonic()
            ids = submit(c, uuids, dst)
            counts = wait_ended(c.services, ids, 1800)
            rates[count] = len(ids) / (time.monotonic() - t0)
            print('  delay %.3f s, %d conductor(s): %6.1f moves/s  %s  '
                  '(load %s)' % (delay, count, rates[count], counts,
                                 load()), flush=True)
            c.stop(procs)
        print('  delay %.3f s: 2 conductors / 1 = %.2fx (goal >= 1.7x)'
              % (delay, rates[2] / rates[1]), flush=True)


def drain(c, args):
    from move_orchestrator import context
    from move_orchestrator import states
    hosts, per_host, t = (args.scale_hosts, args.scale_instances,
                          args.scale_transfer)
    w = args.scale_workers
    print('drain: %d hosts x %d instances = %d moves over 2 conductors '
          '(%d workers each), transfer %.1f s, at most 2 outbound per host'
          % (hosts, per_host, hosts * per_host, w, t), flush=True)
    procs = c.start(2, 'drain', workers=w, transfer=t,
                    limits={'max_outbound_per_host': 2,
                            'max_outbound_live_per_host': 2})
    services = c.services
    src, _dst, _vms = seed(services, hosts, per_host, hosts, 'dr')
    for host in src:    # every source left out of the destinations
        services.inventory.set_host_state(host, 'disabled')
    admin = context.get_admin_context()
    print('  (load %s before)' % load(), flush=True)
    cpu0 = cpu_seconds(procs)
    servers0 = servers_cpu()
    t0 = time.monotonic()
    started = utcnow()
    drains = [c.api.drain_host(admin, host, live=False)['id']
              for host in src]
    deadline = time.monotonic() + 60 * per_host * t + 600
    while True:
        found = [services.drains.get(d) for d in drains]
        if all(d['state'] in states.TERMINAL_STATES for d in found) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(procs) - cpu0
    servers = {k: v - servers0[k] for k, v in servers_cpu().items()}
    children = [m for d in drains for m in services.drains.children(d)]
    ends = [m['finished_at'] for m in children if m['finished_at']]
    measured = ((max(ends) - started).total_seconds() if ends else wall)
    ideal = makespan.ideal_makespan([per_host] * hosts, t, 2)
    ideal_w = makespan.ideal_makespan([per_host] * hosts, t, 2, slots=2 * w)
    moved = {}
    for m in children:
        moved[m['state']] = moved.get(m['state'], 0) + 1
    print('  drains: %s; moves: %s' % (
        sorted({d['state'] for d in found}), moved))
    print('  makespan %.1f s; ideal %.1f s (%.1f s with %d workers in all): '
          '%.2fx the ideal (goal <= 1.2x)  (load %s)' % (
              measured, ideal, ideal_w, 2 * w, measured / ideal, load()),
          flush=True)
    cores = os.cpu_count() or 1
    print('  conductors used %.0f CPU s (%.0f ms per move): on %d cores '
          'shared with nothing else, the CPU alone needs %.0f s' % (
              cpu, 1000 * cpu / max(1, len(children)), cores, cpu / cores),
          flush=True)
    n = max(1, len(children))
    print('  servers used %.0f CPU s (PostgreSQL %.0f ms per move, Redis %.0f '
          'ms per move); the machine was busy %.0f%% of its %d cores over '
          'the %.0f s' % (
              servers['postgresql'] + servers['redis'],
              1000 * servers['postgresql'] / n, 1000 * servers['redis'] / n,
              100.0 * servers['machine'] / (cores * wall), cores, wall),
          flush=True)
    if children:
        profile(services, children, started, measured, 2, t)
    c.stop()


def recovery(c, args):
    n, expiry = args.scale_recovery_moves, args.scale_expiry
    need = min(n, args.scale_recovery_in_flight)
    print('recovery: %d moves on 2 conductors (transfer %.0f s, claim '
          'expiry %.0f s); SIGKILL one with >= %d in flight' % (
              n, args.scale_recovery_transfer, expiry, need), flush=True)
    procs = c.start(2, 'rec', workers=n + 10, expiry=expiry,
                    transfer=args.scale_recovery_transfer)
    services = c.services
    _, dst, vms = seed(services, 10, -(-n // 10), 10, 'rec')
    uuids = [u for host in sorted(vms) for u in vms[host]][:n]
    ids = submit(c, uuids, dst)
    from move_orchestrator import states
    deadline = time.monotonic() + 600
    while True:
        counts = _counts(services, ids)
        flying = len(ids) - _ended(counts) - counts.get(states.ACCEPTED, 0)
        if flying >= need or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    victim = procs[0]
    held = [m for m in (services.store.get(i) for i in ids)
            if m['state'] not in states.TERMINAL_STATES and
            (m['conductor'] or '').startswith(victim.host + '.')]
    killed = utcnow()
    c.kill(victim)
    print('  killed %s with %d moves in flight (%d of them its own)  '
          '(load %s)' % (victim.host, flying, len(held), load()), flush=True)
    back = {}
    deadline = time.monotonic() + 10 * expiry + 120
    while len(back) < len(held) and time.monotonic() < deadline:
        events = services.store.events_of([m['id'] for m in held
                                           if m['id'] not in back])
        for move_id, evs in events.items():
            again = [e['created_at'] for e in evs if e['kind'] == 'claim'
                     and e['created_at'] > killed]
            if again:
                back[move_id] = min(again)
        time.sleep(0.2)
    if back:
        delays = sorted((b - killed).total_seconds() for b in back.values())
        worst = delays[-1]
        print('  its %d moves claimed again: first after %.1f s, median '
              '%.1f s, last %.1f s (goal: every one <= %.0f s, claim expiry '
              '+ 5 s): %s; %d not taken over  (load %s)' % (
                  len(held), delays[0], _median(delays), worst, expiry + 5,
                  'met' if worst <= expiry + 5 and len(back) == len(held)
                  else 'MISSED', len(held) - len(back), load()), flush=True)
    counts = wait_ended(services, ids, 600 + 4 * args.scale_recovery_transfer)
    print('  in the end: %s  (load %s)' % (counts, load()), flush=True)
    c.stop()


def run(argv):
    parser = argparse.ArgumentParser(prog='bench_scale', add_help=False)
    parser.add_argument('--scale-only', default=','.join(SCENARIOS))
    parser.add_argument('--scale-hosts', type=int, default=20)
    parser.add_argument('--scale-instances', type=int, default=50)
    parser.add_argument('--scale-transfer', type=float, default=1.0)
    parser.add_argument('--scale-workers', type=int, default=24)
    parser.add_argument('--scale-storm-moves', type=int, default=150)
    parser.add_argument('--scale-delay', type=float, default=0.05)
    parser.add_argument('--scale-recovery-moves', type=int, default=240)
    parser.add_argument('--scale-recovery-transfer', type=float,
                        default=60.0)
    parser.add_argument('--scale-recovery-in-flight', type=int,
                        default=200,
                        help='moves in flight (both conductors) at the kill')
    parser.add_argument('--scale-expiry', type=float, default=10.0)
    args, _ = parser.parse_known_args(argv)
    from benchmarks import cluster
    chosen = [s for s in args.scale_only.split(',') if s]
    with cluster.cluster() as c:
        for name in SCENARIOS:
            if name in chosen:
                globals()[name](c, args)
