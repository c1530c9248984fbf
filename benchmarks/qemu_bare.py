"""The bare QMP kinds of the qemu benchmark (bench_qemu.py): the least a
QMP client does to live-migrate the cloud's VM, with or without the pause
before the switch-over, as the reference the driver and the orchestrated
move are measured against."""

import time

from benchmarks import qemu_cpu


def at(event):
    """A QMP event's timestamp, in seconds."""
    return event['timestamp']['seconds'] + event['timestamp']['microseconds'] / 1e6


def migrate(cloud, held=False):
    """``held``: paused before the switch-over, as the driver's
    migrations are (the mechanism of the abort-or-complete rule), and
    continued by this client as soon as QEMU says so."""
    source, dest = cloud.hosts()
    src, dst = cloud.domain(source), cloud.domain(dest)
    prep = qemu_cpu.snapshot({'source': src.pid()}, {})
    t0, t0_epoch = time.perf_counter(), time.time()
    dst.write_definition({'spec': cloud.spec})
    cloud.driver._start(dst, incoming=True)
    qemus = {'source': src.pid(), 'dest': dst.pid()}
    with src.qmp() as qs, dst.qmp() as qd:
        t1 = time.perf_counter()
        # Over TCP on [qemu] host_address, as a destination that accepts
        # a migration listens (incoming.py): hosts that share nothing
        # reach each other over the network, not a unix socket.
        qd.execute('migrate-incoming', uri='tcp:%s:0'
                   % cloud.conf.qemu.host_address)
        port = qd.execute('query-migrate')['socket-address'][0]['port']
        uri = 'tcp:%s:%s' % (cloud.conf.qemu.host_address, port)
        # A guest that came in through the driver keeps the capabilities
        # it was given then: plain pre-copy here (held: paused first).
        qs.execute('migrate-set-capabilities', capabilities=[
            {'capability': 'postcopy-ram', 'state': False},
            {'capability': 'pause-before-switchover', 'state': held},
            {'capability': 'events', 'state': True}])
        qs.execute('migrate-set-parameters', **{
            'max-bandwidth': 1 << 40,
            'downtime-limit': cloud.conf.qemu.downtime_limit_ms})
        qs.execute('migrate', uri=uri)
        copy = qemu_cpu.snapshot(qemus, {})
        before, prep = prep, qemu_cpu.delta(prep, copy)
        ends, paused_at = ('completed', 'failed', 'cancelled'), None
        ev = qs.wait_event('MIGRATION', timeout=60, match=lambda e: e['data'][
            'status'] in ends + (('pre-switchover',) if held else ()))
        if ev['data']['status'] == 'pre-switchover':
            qs.execute('migrate-continue', state='pre-switchover')
            paused_at = ev
            ev = qs.wait_event('MIGRATION', timeout=60,
                               match=lambda e: e['data']['status'] in ends)
        if ev['data']['status'] != 'completed':
            raise RuntimeError('bare migration %s' % ev['data']['status'])
        resume = qd.wait_event('RESUME', timeout=60)
        t2 = time.perf_counter()
        end = qemu_cpu.snapshot(qemus, {})
        copy, whole = qemu_cpu.delta(copy, end), qemu_cpu.delta(before, end)
        info = qs.execute('query-migrate')
        stop = [e for e in qs.events if e['event'] == 'STOP']
        device = [e for e in qs.events if e['event'] == 'MIGRATION'
                  and e['data']['status'] == 'device']
    wait = (at(device[0]) - at(paused_at)) * 1000 \
        if paused_at and device else None
    src.stop()
    elapsed = time.perf_counter() - t0
    cloud.put_right(source, dest)
    return {'whole': elapsed, 'migration': at(resume) - t0_epoch,
            'to_end': t2 - t0, 'migrate': t2 - t1,
            'downtime': info.get('downtime'),
            'pause': (at(resume) - at(stop[0])) * 1000 if stop else None,
            'wait': wait,
            'sent': info.get('ram', {}).get('transferred', 0) / (1 << 20),
            'cpu': copy, 'prep': prep, 'whole_cpu': whole,
            'qemu': qemu_cpu.figures(info)}
