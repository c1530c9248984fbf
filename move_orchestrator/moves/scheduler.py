"""A simple destination picker: filter, then weigh by free RAM."""

from move_orchestrator.db import inventory as inv
from move_orchestrator import exception

_NOTHING = dict.fromkeys(inv.RESOURCES, 0)


def free_resources(host, usage, ratios):
    return {r: int(host[r] * ratios.get(r, 1.0)) - usage[r]
            for r in inv.RESOURCES}


def select_destination(inventory, ratios, source, flavor, live,
                       allow_source=False):
    """The host with the most free RAM that fits; NoValidHost otherwise.

    Two queries whatever the number of hosts: the hosts, and the usage of
    all of them summed by the database, with what accepted moves will
    claim (moves picked at once, as a drain's, spread out).
    """
    hosts = inventory.list_hosts()
    src = next((h for h in hosts if h['name'] == source), None)
    if src is None:
        src = inventory.get_host(source)    # raises HostNotFound
    usage = inventory.usage_by_host(promised=True)
    reasons = {}
    candidates = []
    for host in hosts:
        name = host['name']
        if name == source and not allow_source:
            continue
        if host['state'] != 'up':
            reasons[name] = host['state']
            continue
        if live and host['cpu_model'] != src['cpu_model']:
            reasons[name] = 'CPU model %s' % host['cpu_model']
            continue
        free = free_resources(host, usage.get(name, _NOTHING), ratios)
        short = [r for r in inv.RESOURCES if flavor[r] > free[r]]
        if short:
            reasons[name] = 'not enough %s' % ', '.join(short)
            continue
        candidates.append((-free['ram_mb'], name != source, name))
    if not candidates:
        detail = '; '.join('%s: %s' % kv for kv in sorted(reasons.items()))
        raise exception.NoValidHost(
            reason='no host fits flavor %s%s' % (
                flavor['name'], ' (%s)' % detail if detail else ''))
    return min(candidates)[2]
