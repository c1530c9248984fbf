"""A simple destination picker: filter, then weigh by free RAM."""

from move_orchestrator.db import inventory as inv
from move_orchestrator import exception


def free_resources(host, usage, ratios):
    return {r: int(host[r] * ratios.get(r, 1.0)) - usage[r]
            for r in inv.RESOURCES}


def select_destination(inventory, ratios, source, flavor, live,
                       allow_source=False):
    """The host with the most free RAM that fits; NoValidHost otherwise."""
    src = inventory.get_host(source)
    reasons = {}
    candidates = []
    for host in inventory.list_hosts():
        name = host['name']
        if name == source and not allow_source:
            continue
        if host['state'] != 'up':
            reasons[name] = host['state']
            continue
        if live and host['cpu_model'] != src['cpu_model']:
            reasons[name] = 'CPU model %s' % host['cpu_model']
            continue
        free = free_resources(host, inventory.host_usage(name), ratios)
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
