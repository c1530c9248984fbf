"""From a move request to a validated move: its type, hosts and flavors.

Everything here only reads; a request that is refused changes nothing.
"""

import uuid

from move_orchestrator.db import inventory as inv
from move_orchestrator import exception
from move_orchestrator.moves import scheduler
from move_orchestrator.steps import hotplug

MAX_FIELD = 255
REQUEST_KEYS = ('instance', 'destination', 'flavor', 'live', 'request_id')


def _check_str(name, value, required=False):
    if value is None:
        if required:
            raise exception.InvalidMoveRequest(reason='%s is required' % name)
        return
    if not isinstance(value, str) or not value.strip():
        raise exception.InvalidMoveRequest(
            reason='%s must be a non-empty string' % name)
    if len(value) > MAX_FIELD:
        raise exception.InvalidMoveRequest(
            reason='%s is longer than %d characters' % (name, MAX_FIELD))
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:   # a lone surrogate: bytes that were not UTF-8
        raise exception.InvalidMoveRequest(
            reason='%s is not valid UTF-8' % name) from None


def validate_request(request):
    """Shape only: types, lengths and known keys."""
    if not isinstance(request, dict):
        raise exception.InvalidMoveRequest(reason='request must be a dict')
    unknown = set(request) - set(REQUEST_KEYS)
    if unknown:
        raise exception.InvalidMoveRequest(
            reason='unknown keys: %s' % ', '.join(sorted(map(str, unknown))))
    _check_str('instance', request.get('instance'), required=True)
    for key in ('destination', 'flavor', 'request_id'):
        _check_str(key, request.get(key))
    if request.get('live') not in (None, True, False):
        raise exception.InvalidMoveRequest(reason='live must be a boolean')


def spec(instance, flavor):
    """What the driver needs to build the instance with flavor."""
    return {'uuid': instance['uuid'], 'name': instance['name'],
            'image': instance['image'], 'flavor': flavor['name'],
            **{r: flavor[r] for r in inv.RESOURCES}}


def hotplug_refusals(conf, instance, old_flavor, new_flavor):
    """Why the change from old_flavor to new_flavor cannot be hot-plugged
    into the running instance (empty: it can)."""
    reasons = []
    if instance['power_state'] != 'running':
        reasons.append('the instance is %s, not running'
                       % instance['power_state'])
    if new_flavor['disk_gb'] != old_flavor['disk_gb']:
        reasons.append('its disk changes (%s GB to %s GB)'
                       % (old_flavor['disk_gb'], new_flavor['disk_gb']))
    limits = conf.compute
    for resource, unit, limit, option in (
            ('vcpus', ' vCPUs', limits.hotplug_max_vcpus, 'hotplug_max_vcpus'),
            ('ram_mb', ' MB', limits.hotplug_max_ram_mb,
             'hotplug_max_ram_mb')):
        old, new = old_flavor[resource], new_flavor[resource]
        if new < old:
            reasons.append('%s%s is fewer than %s%s: hot-unplug is not a '
                           'resize' % (new, unit, old, unit))
        elif new > old and new > max(old, limit):
            most = max(old, limit)
            reasons.append('%s%s is over the guest\'s maximum of %s%s '
                           '([compute] %s)' % (new, unit, most, unit, option))
    return reasons


def derive_type(source_host, instance, new_flavor, live, refusals=()):
    """The move type of a request; ``refusals``: why a new flavor cannot
    be hot-plugged (see hotplug_refusals)."""
    if source_host['state'] == 'down':
        if live:
            raise exception.InvalidMoveRequest(
                reason='the source host is down: an evacuation cannot be '
                       'live')
        if new_flavor is not None:
            raise exception.InvalidMoveRequest(
                reason='the source host is down: an evacuation cannot '
                       'change the flavor')
        return 'evacuate'
    if new_flavor is not None:
        if live and refusals:
            raise exception.CannotHotplug(
                instance=instance['name'], flavor=new_flavor['name'],
                reason='; '.join(refusals))
        if live is False or refusals:
            return 'resize'
        return 'live-resize'
    running = instance['power_state'] == 'running'
    if live and not running:
        raise exception.InstanceInvalidState(
            instance=instance['uuid'], state=instance['power_state'],
            reason='a live migration needs a running instance')
    if live or (live is None and running):
        return 'live-migrate'
    return 'cold-migrate'


def _live_resize_or_cold(inventory, ratios, request, source, instance,
                         old_flavor, new_flavor, refusals):
    """With ``live`` unset, a live resize that finds no room on its own
    host (or is sent elsewhere) is done cold instead; with ``live=true``,
    refused with the reason."""
    dest = request.get('destination')
    if source['state'] != 'up':
        refusals.append('its host %s is %s' % (source['name'],
                                               source['state']))
    elif dest is not None and dest != source['name']:
        refusals.append('a live resize stays on its host %s, not %s'
                        % (source['name'], dest))
    else:
        free = scheduler.free_resources(
            source, inventory.host_usage(source['name']), ratios)
        for r, amount in hotplug.growth(old_flavor, new_flavor).items():
            if amount > free[r]:
                if request.get('live'):
                    raise exception.InsufficientCapacity(
                        host=source['name'], resource=r, requested=amount,
                        free=free[r])
                refusals.append('no room for %s more %s on %s'
                                % (amount, r, source['name']))
    return derive_type(source, instance, new_flavor, request.get('live'),
                       refusals)


def build_move(inventory, conf, request, ratios):
    """The values of a new move record, or a typed error."""
    validate_request(request)
    instance = inventory.get_instance(request['instance'])
    if instance['move_id']:
        raise exception.InstanceBusy(instance=instance['uuid'],
                                     task=instance['move_id'])
    if instance['vm_state'] == 'error':
        raise exception.InstanceInvalidState(
            instance=instance['uuid'], state='error',
            reason='an operator must repair it first')
    source = inventory.get_host(instance['host'])
    old_flavor = inventory.get_flavor(instance['flavor'])
    new_flavor = None
    if request.get('flavor') is not None:
        new_flavor = inventory.get_flavor(request['flavor'])
        if new_flavor['name'] == old_flavor['name']:
            raise exception.InvalidMoveRequest(
                reason='the instance already has flavor %s'
                % new_flavor['name'])
        if new_flavor['disk_gb'] < old_flavor['disk_gb']:
            # As Nova: a disk is never shrunk (a guest's filesystem would
            # be cut).
            raise exception.CannotResizeDisk(
                instance=instance['name'], flavor=new_flavor['name'],
                new=new_flavor['disk_gb'], old=old_flavor['disk_gb'])
    live = request.get('live')
    if new_flavor is None or source['state'] == 'down':
        move_type = derive_type(source, instance, new_flavor, live)
    else:
        refusals = hotplug_refusals(conf, instance, old_flavor, new_flavor)
        move_type = derive_type(source, instance, new_flavor, live, refusals)
        if move_type == 'live-resize':
            move_type = _live_resize_or_cold(
                inventory, ratios, request, source, instance, old_flavor,
                new_flavor, refusals)
    flavor = new_flavor or old_flavor
    same_host_ok = (move_type == 'resize'
                    and conf.move.allow_resize_to_same_host)
    dest = request.get('destination')
    if move_type == 'live-resize':
        dest = source['name']     # room checked by _live_resize_or_cold
    elif dest is None:
        dest = scheduler.select_destination(
            inventory, ratios, source['name'], flavor,
            live=move_type == 'live-migrate', allow_source=same_host_ok)
    else:
        check_destination(inventory, ratios, source, dest, flavor,
                          move_type, same_host_ok)
    return {
        'id': str(uuid.uuid4()),
        'instance_uuid': instance['uuid'],
        'type': move_type,
        'source_host': source['name'],
        'dest_host': dest,
        'old_flavor': old_flavor['name'],
        'new_flavor': flavor['name'],
        'live': move_type in ('live-migrate', 'live-resize'),
        'request_id': request.get('request_id'),
        'request': dict(request),
    }, {
        'spec': spec(instance, old_flavor),
        'new_spec': spec(instance, flavor),
        'power_state': instance['power_state'],
    }


def check_destination(inventory, ratios, source, dest, flavor, move_type,
                      same_host_ok):
    host = inventory.get_host(dest)
    if dest == source['name'] and not same_host_ok:
        raise exception.InvalidMoveRequest(
            reason='the destination is the source host %s%s' % (
                dest, ' (allow_resize_to_same_host is off)'
                if move_type == 'resize' else ''))
    if host['state'] != 'up':
        raise exception.HostUnavailable(host=dest,
                                        reason='it is %s' % host['state'])
    if move_type == 'live-migrate' and \
            host['cpu_model'] != source['cpu_model']:
        raise exception.HostUnavailable(
            host=dest, reason='CPU model %s differs from the source\'s %s'
            % (host['cpu_model'], source['cpu_model']))
    free = scheduler.free_resources(host, inventory.host_usage(dest), ratios)
    for r in inv.RESOURCES:
        if flavor[r] > free[r]:
            raise exception.InsufficientCapacity(
                host=dest, resource=r, requested=flavor[r], free=free[r])
