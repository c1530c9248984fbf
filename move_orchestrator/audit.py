"""The invariants that every finished move must leave true.

One function, run by the tests after every move and by operators as
``move-orchestrator audit``. Instances that a move is still working on are
skipped (their world is legitimately in between); the claims of finished
moves are not.
"""

import collections

from move_orchestrator.db import inventory as inv
from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator.moves import types as move_types
from move_orchestrator import states


def audit(services):
    """A list of violations, each {'instance', 'move', 'problem'}."""
    inventory, driver, store = (services.inventory, services.driver,
                                services.store)
    problems = []

    def report(problem, instance=None, move=None):
        problems.append({'instance': instance, 'move': move,
                         'problem': problem})

    instances = {i['uuid']: i for i in inventory.list_instances()}
    domains = collections.defaultdict(dict)
    for uuid, host, state in driver.list_domains():
        domains[uuid][host] = state
    disks = collections.defaultdict(set)
    for uuid, host in driver.list_disks():
        disks[uuid].add(host)
    flavors = {f['name']: f for f in inventory.list_flavors()}
    allocations = collections.defaultdict(list)
    for a in inventory.list_allocations():
        allocations[a['consumer_uuid']].append(a)
    # Only the moves named by an instance or an allocation: the table
    # holds every move the cloud ever made.
    moves = store.get_many(
        {i['move_id'] for i in instances.values() if i['move_id']}
        | (set(allocations) - set(instances)))

    for uuid, inst in instances.items():
        move_id = inst['move_id']
        if move_id:
            move = moves.get(move_id)
            if move is None:
                report('held by unknown move %s' % move_id, uuid, move_id)
            elif move['state'] in ('completed', 'reverted'):
                report('still held by finished move (%s)' % move['state'],
                       uuid, move_id)
            elif move['state'] == 'failed':
                report('move failed at %s: %s; resume or revert it'
                       % (move['failed_step'], move['reason']), uuid,
                       move_id)
                continue
            else:
                continue  # being moved: its world is in between
        hosts = sorted(domains.get(uuid, {}))
        if len(hosts) != 1:
            report('runs on %d hosts in the hypervisor (%s)'
                   % (len(hosts), ', '.join(hosts) or 'none'), uuid)
        elif hosts[0] != inst['host']:
            report('inventory says host %s, hypervisor says %s'
                   % (inst['host'], hosts[0]), uuid)
        else:
            want = driver_base.RUNNING if inst['power_state'] == 'running' \
                else driver_base.SHUTOFF
            state = domains[uuid][hosts[0]]
            if state != want:
                report('domain is %s, inventory says %s'
                       % (state, inst['power_state']), uuid)
        if disks.get(uuid, set()) != {inst['host']}:
            report('disks on %s, expected only on %s'
                   % (', '.join(sorted(disks.get(uuid, ()))) or 'no host',
                      inst['host']), uuid)
        flavor = flavors.get(inst['flavor'])
        allocs = allocations.get(uuid, [])
        if flavor is not None and hosts == [inst['host']] \
                and disks.get(uuid) == {inst['host']}:
            # A resize, or the revert of one, that left a size behind.
            # One host's part only: with the rpc driver, one call to its
            # agent rather than one to every agent.
            for problem in driver_base.size_mismatches(
                    driver.describe_host(uuid, inst['host']), inst['host'], flavor):
                report('%s (flavor %s)' % (problem, flavor['name']), uuid)
        if flavor is None:
            report('unknown flavor %s' % inst['flavor'], uuid)
        elif [(a['host'],) + tuple(a[r] for r in inv.RESOURCES)
              for a in allocs] != [(inst['host'],) + tuple(
                flavor[r] for r in inv.RESOURCES)]:
            report('allocations %s do not equal flavor %s on %s' % (
                ['%s:%s/%s/%s' % (a['host'], a['vcpus'], a['ram_mb'],
                                  a['disk_gb']) for a in allocs],
                flavor['name'], inst['host']), uuid)

    for consumer, allocs in allocations.items():
        if consumer in instances:
            continue
        move = moves.get(consumer)
        if move is None:
            report('allocation of unknown consumer on %s'
                   % ', '.join(a['host'] for a in allocs), move=consumer)
        elif move['state'] in ('completed', 'reverted'):
            report('claim on %s left by a %s move'
                   % (', '.join(a['host'] for a in allocs), move['state']),
                   move['instance_uuid'], consumer)
    # Conductors look for the moves to run by the states they know: a move
    # in another state (a newer release's, or a record edited by hand) is
    # run by none of this release.
    for move in store.list_in_other_states(
            move_types.UNFINISHED_STATES + states.TERMINAL_STATES):
        report('move in state %r, which no move type of this release '
               'has: no conductor of this release runs it'
               % move['state'], move['instance_uuid'], move['id'])
    for uuid in set(domains) | set(disks):
        if uuid not in instances:
            report('orphan domain or disk of unknown instance on %s'
                   % ', '.join(sorted(set(domains.get(uuid, {}))
                                      | disks.get(uuid, set()))), uuid)
    return problems
