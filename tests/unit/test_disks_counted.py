"""How a disk on shared storage is counted (drivers/compute/base.py)."""

from move_orchestrator.drivers.compute import base

GROUPS = {'host1': 'g', 'host2': 'g', 'host3': None}


def _counted(disks, domains):
    return base.disks_counted(disks, domains, GROUPS.get)


def test_a_shared_disk_counts_where_its_group_defines_the_domain():
    assert _counted([('vm', 'host1'), ('vm', 'host2')],
                    [('vm', 'host2', 'running')]) == [('vm', 'host2')]


def test_a_shared_disk_no_host_defines_counts_on_every_host_of_its_group():
    assert _counted([('vm', 'host1'), ('vm', 'host2')], []) == [
        ('vm', 'host1'), ('vm', 'host2')]


def test_a_domain_outside_the_group_leaves_the_shared_disk_a_leak_of_the_group():
    assert _counted([('vm', 'host1'), ('vm', 'host2'), ('vm', 'host3')],
                    [('vm', 'host3', 'running')]) == [
        ('vm', 'host1'), ('vm', 'host2'), ('vm', 'host3')]


def test_a_local_disk_counts_whatever_defines_the_domain():
    assert _counted([('vm', 'host3')], [('vm', 'host1', 'running')]) == [
        ('vm', 'host3')]
