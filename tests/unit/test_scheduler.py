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
