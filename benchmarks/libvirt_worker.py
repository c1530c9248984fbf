"""The conductor of bench_libvirt's orchestrated libvirt figure, in a
process of its own (the process-wide configuration and database session
of the bench's process hold the qemu driver's cloud).

``python -m benchmarks.libvirt_worker DB_URL TRANSPORT_URL RAM_MB [POLL_MS]``: an
embedded conductor with the ``rpc`` compute driver, on the bench's
``move-orchestrator-compute`` agents; boots one guest on host1 through
them and prints ``{"uuid": ...}``. Then each ``move`` line read on stdin
live-migrates it to the other host and prints the move's time as JSON;
``quit`` prints the audit and ends. Each move's line also holds every call
to an agent the move made (method and milliseconds, in order), timed around
the rpc driver's own call: the round trips that make up (b)'s own part.
"""

import datetime
import json
import sys
import time

HOSTS = ('host1', 'host2')


def _seconds(a, b):
    return (datetime.datetime.fromisoformat(b)
            - datetime.datetime.fromisoformat(a)).total_seconds()


def _time_agent_calls(calls):
    """Append (method, ms) to calls for each call of the rpc driver."""
    from move_orchestrator.drivers.compute import rpc as rpc_driver
    call = rpc_driver.RpcDriver._call

    def timed(self, host, method, /, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return call(self, host, method, *args, **kwargs)
        finally:
            calls.append((method, 1000 * (time.perf_counter() - t0)))
    rpc_driver.RpcDriver._call = timed


def main(url, transport_url, ram_mb, poll_ms='0'):
    from move_orchestrator import cloud as cloud_mod
    from move_orchestrator.conductor import api as api_mod
    from move_orchestrator.conductor import services as services_mod
    from move_orchestrator.conf import CONF
    CONF([], project='move-orchestrator-bench', default_config_files=[])
    CONF.set_override('connection', url, 'database')
    CONF.set_override('driver', 'rpc', 'compute')
    CONF.set_override('transport_url', transport_url)
    if float(poll_ms):
        CONF.set_override('poll_interval', float(poll_ms) / 1000, 'conductor')
    calls = []
    _time_agent_calls(calls)
    services = services_mod.Services(CONF)
    services.upgrade_persistence()
    api = api_mod.ConductorAPI(services)
    api.conductor.start()
    services.inventory.create_flavor('bench', 1, int(ram_mb), 1)
    vm = cloud_mod.boot_instance(services, 'vm', HOSTS[0], 'bench', image='bench')
    print(json.dumps({'uuid': vm['uuid']}), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() != 'move':
                break
            source = services.inventory.get_instance('vm')['host']
            dest = HOSTS[1 - HOSTS.index(source)]
            del calls[:]
            started_at = time.time()
            t0 = time.perf_counter()
            doc = api.move_instance(None, 'vm', destination=dest)
            doc = api.wait_task(None, doc['id'])
            elapsed = time.perf_counter() - t0
            ended_at = time.time()
            subs = {s['name']: s for s in doc['subtasks']}
            window = None
            if 'PrepareIncoming' in subs and 'SwitchOverMigration' in subs:
                window = _seconds(subs['PrepareIncoming']['started'],
                                  subs['SwitchOverMigration']['finished'])
            steps = {n: _seconds(s['started'], s['finished']) for n, s in subs.items()
                     if s.get('started') and s.get('finished')}
            # What no step holds: admission, the waits between steps (each
            # a commit and a look for the next), the waiter's answer.
            outside = elapsed - sum(steps.values())
            ports = subs.get('ActivateDestinationPorts', {}).get('finished')
            print(json.dumps({'whole': elapsed, 'migration': window, 'steps': steps,
                              'started_at': started_at, 'ended_at': ended_at,
                              'ports_active_at': ports and datetime.datetime.fromisoformat(
                                  ports).timestamp(),
                              'outside_steps': outside, 'agent_calls': list(calls),
                              'state': doc['state'], 'reason': doc['reason']}),
                  flush=True)
        print(json.dumps({'audit': api.audit(None)}), flush=True)
    finally:
        api.shutdown(wait=False)


if __name__ == '__main__':
    main(*sys.argv[1:5])
