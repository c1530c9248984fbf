"""Seeded databases for the crash tests, built in a child process (the
configuration is global to a process) and copied per test.

``seed(config, scenario)`` builds the demo cloud of tests/harness.py (or a
bigger one) and accepts moves without running them: the process does not
become the conductor, so the moves wait, ``accepted``, for the conductor
under test.
"""

import json
import sys

MOVES = {
    # (instance, request, source) of one move per type, as in
    # tests/unit/test_reverts.py.
    'live-migrate': ('vm1', {'destination': 'host3'}, 'host1'),
    'cold-migrate': ('vm2', {'destination': 'host3'}, 'host2'),
    'resize': ('vm3', {'destination': 'host4', 'flavor': 'm1.medium'},
               'host1'),
    'evacuate': ('vm4', {'destination': 'host3'}, 'host2'),
    'live-resize': ('vm1', {'destination': 'host1', 'flavor': 'm1.wide'},
                    'host1'),
}


def _services(config):
    from move_orchestrator.cli import main as cli_main
    from move_orchestrator.cmd import manage
    from move_orchestrator.conductor import services as services_mod
    from move_orchestrator.conf import CONF
    cli_main.setup_config(['--config-file', config])
    manage.sync_schema()
    return services_mod.Services(CONF)


def _accept(services, requests):
    from move_orchestrator.conductor import runner
    conductor = runner.Conductor(services)     # never started: no owner
    moves = [conductor.submit(r) for r in requests]
    assert not conductor.owns_database
    return moves


def _done(services, result):
    from move_orchestrator.db import session as db_session
    services.db.dispose()
    db_session.reset()      # the last connection closed: WAL checkpointed
    json.dump(result, sys.stdout)
    return 0


def seed_one_move(config, type_name):
    """The demo cloud and one accepted move of the type."""
    from move_orchestrator import cloud
    services = _services(config)
    cloud.create_demo_cloud(services)
    name, request, source = MOVES[type_name]
    if type_name == 'evacuate':
        services.inventory.set_host_state(source, 'down')
    move, = _accept(services, [dict(request, instance=name)])
    assert move['type'] == type_name, move
    return _done(services, {'move': move['id'], 'source': source,
                            'dest': request['destination'],
                            'instance': name})


def seed_demo(config):
    """The demo cloud, no move."""
    from move_orchestrator import cloud
    services = _services(config)
    cloud.create_demo_cloud(services)
    return _done(services, {})


def seed_many(config, hosts, per_host, down_hosts=''):
    """A bigger cloud: ``hosts`` hosts, ``per_host`` instances on each of
    the first half, and a move of every instance to the second half, of
    every type: the instances of ``down_hosts`` (comma-separated) are
    evacuated, the others live-migrated or cold-migrated (running) or
    cold-migrated or resized (shut down). Arguments may be strings (they
    come from a command line)."""
    from move_orchestrator import cloud
    hosts, per_host = int(hosts), int(per_host)
    down_hosts = [h for h in down_hosts.split(',') if h]
    services = _services(config)
    inventory = services.inventory
    for name, vcpus, ram, disk in cloud.DEMO_FLAVORS:
        inventory.create_flavor(name, vcpus, ram, disk)
    for i in range(1, hosts + 1):
        inventory.create_host('host%d' % i, vcpus=64, ram_mb=262144,
                              disk_gb=4000, cpu_model='Cascadelake',
                              storage_group='local-host%d' % i)
    half = hosts // 2
    requests, n = [], 0
    for h in range(1, half + 1):
        source = 'host%d' % h
        for k in range(per_host):
            n += 1
            running = n % 2 == 1
            inst = cloud.boot_instance(
                services, 'vm%d' % n, source, 'm1.small' if n % 3 else
                'm1.tiny', power_state='running' if running else 'shutdown',
                project_id='demo', user_id='demo')
            dest = 'host%d' % (half + 1 + (n % (hosts - half)))
            request = {'instance': inst['name'], 'destination': dest}
            if source not in down_hosts:
                if running and n % 4 == 3:
                    request['live'] = False          # cold, while running
                elif not running and n % 4 == 0:
                    request['flavor'] = 'm1.medium'  # resize
            requests.append(request)
    for host in down_hosts:
        inventory.set_host_state(host, 'down')
    moves = _accept(services, requests)
    return _done(services, {'moves': {m['id']: m['type'] for m in moves}})
