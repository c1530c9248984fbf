"""The QEMU command line of a domain that can grow, and of one that grew:
the devices plugged since it started are on it, as a live migration's
destination needs them."""

from move_orchestrator.conf import CONF
from move_orchestrator.drivers.compute.qemu import hotplug


def test_a_new_domain_can_grow_to_the_configured_maxima():
    t = hotplug.initial_topology(CONF.compute, 2, 512)
    assert hotplug.argv(t, 512) == [
        '-smp', '2,maxcpus=%d' % CONF.compute.hotplug_max_vcpus,
        '-m', '512,slots=%d,maxmem=%dM' % (CONF.compute.hotplug_memory_slots,
                                           CONF.compute.hotplug_max_ram_mb)]
    assert hotplug.totals(t) == (2, 512)


def test_a_bigger_domain_than_the_maxima_cannot_grow():
    t = hotplug.initial_topology(CONF.compute, 64, 1 << 20)
    assert hotplug.argv(t, 1 << 20) == [
        '-smp', '64,maxcpus=64', '-m', str(1 << 20)]


def test_plugged_devices_are_on_the_command_line():
    t = dict(hotplug.initial_topology(CONF.compute, 1, 64), cpus=[
        {'id': 'vcpu-0-1-0', 'type': 'qemu64-x86_64-cpu',
         'props': {'socket-id': 0, 'core-id': 1, 'thread-id': 0}}], dimms=[
        {'id': 'dimm0', 'memdev': 'mem-dimm0', 'size_mb': 64}])
    args = hotplug.argv(t, 64)
    assert args[args.index('-device') + 1] == (
        'qemu64-x86_64-cpu,id=vcpu-0-1-0,core-id=1,socket-id=0,thread-id=0')
    assert 'memory-backend-ram,id=mem-dimm0,size=64M' in args
    assert 'pc-dimm,id=dimm0,memdev=mem-dimm0' in args
    assert hotplug.totals(t) == (2, 128)
