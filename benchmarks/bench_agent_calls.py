"""Round trips to the compute agents: one call, two in series, two at once.

Why: a live migration through agents makes about ten calls besides its
waits (bench_libvirt prints them), one after the other, and they are most
of what the orchestrator adds to libvirt's own migration. The rpc driver's
``at_once`` makes independent ones together (PrepareIncoming's two reads
of the source; DestroySource's destroy and shares_storage): this measures
what that saves, against the same two calls in series, in one run.

Two ``move-orchestrator-compute`` agents (the qemu driver, no guest: the
calls are reads that touch no QEMU) on a private RabbitMQ virtual host;
this process calls them with the ``rpc`` driver. ``--agent-calls N``
rounds (default 300, the first 20 left out), each: the two calls in
series, then at once. ``--agent-calls-busy`` runs a process spinning on
one core meanwhile, as the guest's QEMU does during a migration.
"""

import argparse
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

INSTANCE = '00000000-0000-0000-0000-000000000001'
WARM_UP = 20


def _options(argv):
    parser = argparse.ArgumentParser(prog='bench_agent_calls', add_help=False)
    parser.add_argument('--agent-calls', type=int, default=300)
    parser.add_argument('--agent-calls-busy', action='store_true')
    args, _ = parser.parse_known_args(argv)
    return args


def _ms(call):
    t0 = time.perf_counter()
    call()
    return 1000 * (time.perf_counter() - t0)


def _measure(driver, rounds):
    def topology():
        return driver.topology(INSTANCE, 'host1')

    def shares():
        return driver.shares_storage('host1', 'host2')

    one, series, together = [], [], []
    for i in range(rounds + WARM_UP):
        samples = (_ms(shares), _ms(lambda: (topology(), shares())),
                   _ms(lambda: driver.at_once(topology, shares)))
        if i >= WARM_UP:
            for kept, value in zip((one, series, together), samples):
                kept.append(value)
    return one, series, together


def run(argv=None):
    args = _options(argv if argv is not None else sys.argv[1:])
    from move_orchestrator.conf import CONF
    from move_orchestrator.db import migration
    from move_orchestrator.drivers.compute import rpc
    from tests.functional.qemu import test_qemu_agents
    from tests.functional.rpc import harness as rpc_harness
    work = pathlib.Path(tempfile.mkdtemp(prefix='moac', dir='/tmp'))
    url = 'sqlite:///%s' % (work / 'mo.db')
    migration.upgrade(url)
    busy = started = driver = None
    try:
        with rpc_harness.private_vhost() as transport_url:
            started = [test_qemu_agents.Agent(
                work, host, transport_url, url, str(work / 'inst'),
                {'host1': 'g', 'host2': 'g'}).start() for host in ('host1', 'host2')]
            CONF([], project='move-orchestrator-bench', default_config_files=[])
            CONF.set_override('connection', url, 'database')
            CONF.set_override('transport_url', transport_url)
            driver = rpc.RpcDriver(CONF)
            if args.agent_calls_busy:
                busy = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
            one, series, together = _measure(driver, args.agent_calls)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        if driver is not None:
            driver.close()
        for agent in started or ():
            agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in
           (('one', one), ('series', series), ('together', together))}
    print('agent round trips, medians of %d%s:' % (
        args.agent_calls, ', one core kept busy' if args.agent_calls_busy else ''))
    print('  one call (shares_storage)             %.2f ms' % med['one'])
    print('  two in series (topology, shares)      %.2f ms  (baseline)' % med['series'])
    print('  the same two at once (at_once)        %.2f ms  %.2fx the baseline' % (
        med['together'], med['together'] / med['series']))
