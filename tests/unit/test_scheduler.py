"""The scheduler asks the database a fixed number of questions."""

import threading

import sqlalchemy as sa

from move_orchestrator.moves import scheduler


def _statements(cloud, func):
    seen = []
    me = threading.get_ident()

    def count(conn, cursor, statement, *args):
        # This thread's only: the conductor's own threads go on.
        if threading.get_ident() == me and \
                statement.lstrip().upper().startswith('SELECT'):
            seen.append(statement)
    sa.event.listen(cloud.services.db.engine, 'before_cursor_execute', count)
    try:
        return func(), len(seen)
    finally:
        sa.event.remove(cloud.services.db.engine, 'before_cursor_execute',
                        count)


def _pick(cloud, flavor):
    services = cloud.services
    return scheduler.select_destination(
        services.inventory, services.allocation_ratios, 'host1', flavor,
        live=False)


def test_usage_by_host_is_each_host_usage(cloud):
    inventory = cloud.services.inventory
    usage = inventory.usage_by_host()
    for host in inventory.list_hosts():
        expected = inventory.host_usage(host['name'])
        assert usage.get(host['name'], dict.fromkeys(expected, 0)) == expected
    assert usage['host1']['ram_mb'] > 0     # the demo cloud's instances


def test_the_most_free_ram_wins_in_two_queries_whatever_the_hosts(cloud):
    inventory = cloud.services.inventory
    # host3 and host4 are empty; fill host3 a little.
    inventory.claim('someone', 'host3', {'vcpus': 1, 'ram_mb': 1024,
                                         'disk_gb': 1},
                    cloud.services.allocation_ratios)
    flavor = inventory.get_flavor('m1.small')
    dest, few = _statements(cloud, lambda: _pick(cloud, flavor))
    assert dest == 'host4'
    for i in range(20):
        inventory.create_host('extra%02d' % i, vcpus=16, ram_mb=1024,
                              disk_gb=500, cpu_model='Cascadelake')
    dest, many = _statements(cloud, lambda: _pick(cloud, flavor))
    assert dest == 'host4'
    assert few == many == 2


def _accept(cloud, instance, dest, flavor):
    """A move of instance to dest, recorded as accepted and not run."""
    import uuid
    instance = cloud.services.inventory.get_instance(instance)
    values = {'id': str(uuid.uuid4()), 'instance_uuid': instance['uuid'],
              'type': 'resize', 'source_host': instance['host'],
              'dest_host': dest, 'old_flavor': instance['flavor'],
              'new_flavor': flavor, 'live': False, 'request': {}}
    return cloud.services.store.create(values)[0]


def test_an_accepted_move_counts_on_its_destination_until_it_claims(cloud):
    inventory = cloud.services.inventory
    flavor = inventory.get_flavor('m1.small')
    assert _pick(cloud, flavor) == 'host3'   # host3 and host4 are empty (a tie)
    move = _accept(cloud, 'vm1', 'host3', 'm1.medium')
    # What it will claim on host3 is promised: the next pick goes to host4.
    assert inventory.usage_by_host(promised=True)['host3']['ram_mb'] == 4096
    assert 'host3' not in inventory.usage_by_host()
    assert _pick(cloud, flavor) == 'host4'
    # Once it runs its claim is an allocation and the promise is gone:
    # counted once, not twice.
    inventory.claim(move['id'], 'host3', {'vcpus': 2, 'ram_mb': 4096,
                                          'disk_gb': 40},
                    cloud.services.allocation_ratios)
    cloud.services.store.update(move['id'], state='claiming')
    assert inventory.usage_by_host(promised=True)['host3']['ram_mb'] == 4096


def test_a_claiming_move_counts_until_its_allocation_is_written(cloud):
    """Between the claim step's start (state ``claiming``, saved) and its
    claim, the move is neither accepted nor allocated: still promised."""
    inventory = cloud.services.inventory
    flavor = inventory.get_flavor('m1.small')
    move = _accept(cloud, 'vm1', 'host3', 'm1.medium')
    cloud.services.store.update(move['id'], state='claiming')
    assert inventory.usage_by_host(promised=True)['host3']['ram_mb'] == 4096
    assert _pick(cloud, flavor) == 'host4'
    # Its allocation written, it is counted once.
    inventory.claim(move['id'], 'host3', {'vcpus': 2, 'ram_mb': 4096,
                                          'disk_gb': 40},
                    cloud.services.allocation_ratios)
    assert inventory.usage_by_host(promised=True)['host3']['ram_mb'] == 4096
    assert _pick(cloud, flavor) == 'host4'
