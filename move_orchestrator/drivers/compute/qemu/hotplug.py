"""vCPU and memory hotplug of a running QEMU domain (live resize).

A domain starts able to grow: ``-smp N,maxcpus=M`` and
``-m size,slots=S,maxmem=X`` (M and X from ``[compute] hotplug_max_vcpus``
/ ``hotplug_max_ram_mb``). vCPUs are added with ``device_add`` of the free
slots ``query-hotpluggable-cpus`` lists, memory with ``object-add`` of a
``memory-backend-ram`` and ``device_add`` of a ``pc-dimm`` on it.

The domain's spec keeps its ``topology``: the boot size, the maxima and the
devices plugged since, read back from QEMU after every change (so a crash
between a device_add and the record is repaired by the next look). A restart
and a live migration's destination are started with the same devices on
the command line: QEMU refuses a migration stream between different
topologies.

Unplug needs the guest: x86 vCPUs are ejected through ACPI once the guest
has switched to the modern CPU hotplug interface (QEMU refuses before), and
a pc-dimm only goes when the guest has offlined and ejected it. What the
guest does not give back within ``[compute] hot_unplug_timeout`` stays, and
HotUnplugRefused says which.
"""

from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator import exception

MIB = 1 << 20
PERIPHERAL = '/machine/peripheral/'
CPU_ORDER = ('socket-id', 'die-id', 'cluster-id', 'core-id', 'thread-id')


def initial_topology(conf, vcpus, ram_mb):
    """What a domain of vcpus / ram_mb is started able to grow to."""
    return {'boot_vcpus': vcpus, 'boot_ram_mb': ram_mb,
            'max_vcpus': max(vcpus, conf.hotplug_max_vcpus),
            'max_ram_mb': max(ram_mb, conf.hotplug_max_ram_mb),
            'slots': conf.hotplug_memory_slots, 'cpus': [], 'dimms': []}


def argv(topology, ram_mb):
    """QEMU's -smp / -m and the plugged devices' arguments; ``ram_mb``
    is the boot RAM (after [qemu] ram_limit_mb)."""
    t = topology
    args = ['-smp', '%d,maxcpus=%d' % (t['boot_vcpus'], t['max_vcpus'])]
    if t['max_ram_mb'] > t['boot_ram_mb']:
        args += ['-m', '%d,slots=%d,maxmem=%dM' % (
            ram_mb, t['slots'], ram_mb + t['max_ram_mb'] - t['boot_ram_mb'])]
    else:
        args += ['-m', str(ram_mb)]
    for cpu in t['cpus']:
        args += ['-device', ','.join(
            [cpu['type'], 'id=%s' % cpu['id']]
            + ['%s=%s' % kv for kv in sorted(cpu['props'].items())])]
    for dimm in t['dimms']:
        args += ['-object', 'memory-backend-ram,id=%s,size=%dM'
                 % (dimm['memdev'], dimm['size_mb']),
                 '-device', 'pc-dimm,id=%s,memdev=%s'
                 % (dimm['id'], dimm['memdev'])]
    return args


def totals(topology):
    return (topology['boot_vcpus'] + len(topology['cpus']),
            topology['boot_ram_mb'] + sum(d['size_mb']
                                          for d in topology['dimms']))


def read_devices(q, topology):
    """The topology with its plugged devices as QEMU has them now."""
    cpus = [{'id': c['qom-path'][len(PERIPHERAL):], 'type': c['type'],
             'props': c['props']}
            for c in q.execute('query-hotpluggable-cpus')
            if c.get('qom-path', '').startswith(PERIPHERAL)]
    dimms = [{'id': d['data']['id'], 'size_mb': d['data']['size'] // MIB,
              'memdev': d['data']['memdev'].rsplit('/', 1)[-1]}
             for d in q.execute('query-memory-devices')
             if d['type'] == 'dimm']
    return dict(topology, cpus=sorted(cpus, key=_cpu_key),
                dimms=sorted(dimms, key=lambda d: d['id']))


def _cpu_key(cpu):
    return tuple(cpu['props'].get(k, 0) for k in CPU_ORDER)


def _backends(q):
    return {o['name'] for o in q.execute('qom-list', path='/objects')}


def plug(q, topology, vcpus, ram_mb):
    """Add vCPUs and one DIMM until the totals are reached."""
    topology = read_devices(q, topology)
    have_vcpus, have_ram = totals(topology)
    if vcpus is not None and vcpus > have_vcpus:
        free = sorted((c for c in q.execute('query-hotpluggable-cpus')
                       if 'qom-path' not in c), key=_cpu_key)
        if vcpus - have_vcpus > len(free):
            raise exception.DriverError(
                operation='hotplug', reason='%d vCPUs asked, %d slots free'
                % (vcpus - have_vcpus, len(free)))
        for cpu in free[:vcpus - have_vcpus]:
            q.execute('device_add', driver=cpu['type'], id=_cpu_id(cpu),
                      **cpu['props'])
    if ram_mb is not None and ram_mb > have_ram:
        index = len(topology['dimms'])
        while 'dimm%d' % index in {d['id'] for d in topology['dimms']}:
            index += 1
        dimm, memdev = 'dimm%d' % index, 'mem-dimm%d' % index
        if memdev not in _backends(q):
            q.execute('object-add', **{'qom-type': 'memory-backend-ram',
                                       'id': memdev,
                                       'size': (ram_mb - have_ram) * MIB})
        q.execute('device_add', driver='pc-dimm', id=dimm, memdev=memdev)
    return read_devices(q, topology)


def _cpu_id(cpu):
    # Named by its slot, so a re-run names the same vCPU the same way.
    return 'vcpu-%s' % '-'.join(str(cpu['props'].get(k, 0))
                                for k in ('socket-id', 'core-id', 'thread-id'))


def unplug(q, topology, vcpus, ram_mb, timeout, instance, host):
    """Remove DIMMs, then vCPUs, newest first, down to the totals."""
    topology = read_devices(q, topology)
    for memdev in _orphan_backends(q, topology):
        q.execute('object-del', id=memdev)   # object-add without its DIMM
    if ram_mb is not None:
        while totals(topology)[1] > ram_mb and topology['dimms']:
            dimm = topology['dimms'][-1]
            _remove(q, dimm['id'], timeout, instance, host,
                    'memory %s (%d MB)' % (dimm['id'], dimm['size_mb']),
                    'x86 memory unplug needs the guest to offline and '
                    'eject the DIMM')
            q.execute('object-del', id=dimm['memdev'])
            topology = read_devices(q, topology)
    if vcpus is not None:
        while totals(topology)[0] > vcpus and topology['cpus']:
            cpu = topology['cpus'][-1]
            _remove(q, cpu['id'], timeout, instance, host,
                    'vCPU %s' % cpu['id'],
                    'x86 vCPU unplug needs the guest\'s ACPI (modern CPU '
                    'hotplug) to eject it')
            topology = read_devices(q, topology)
    return topology


def _orphan_backends(q, topology):
    used = {d['memdev'] for d in topology['dimms']}
    return sorted(b for b in _backends(q)
                  if b.startswith('mem-dimm') and b not in used)


def _remove(q, device, timeout, instance, host, what, why):
    try:
        q.execute('device_del', id=device)
    except qmp.QMPError as e:
        raise exception.HotUnplugRefused(
            what=what, instance=instance, host=host,
            reason='QEMU refused: %s (%s)' % (e.kwargs.get('reason'), why)
        ) from None
    try:
        q.wait_event('DEVICE_DELETED', timeout=timeout or 0.001,
                     match=lambda ev: ev.get('data', {}).get('device')
                     == device)
    except qmp.QMPError:
        raise exception.HotUnplugRefused(
            what=what, instance=instance, host=host,
            reason='the guest did not release it within %ss (%s); it stays '
                   'plugged' % (timeout, why)) from None


class HotplugMixin:
    """The live resize operations of QemuDriver."""

    def _running_domain(self, operation, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        definition = dom.read_definition()
        if definition is None or dom.status() != 'running':
            raise exception.DriverError(
                operation=operation, reason='no running domain of %s on %s'
                % (instance_uuid, host))
        return dom, definition

    def topology(self, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        definition = dom.read_definition()
        if definition is None or dom.status() != 'running':
            return None
        t = definition['spec'].get('topology')
        if t is None:       # started before live resize existed
            return None
        return dict(t, free_slots=t['slots'] - len(t['dimms']))

    def _change(self, operation, instance_uuid, host, change):
        dom, definition = self._running_domain(operation, instance_uuid, host)
        spec = definition['spec']
        if spec.get('topology') is None:
            raise exception.DriverError(
                operation=operation, reason='the domain of %s on %s was not '
                'started able to grow: restart it' % (instance_uuid, host))
        try:
            with dom.qmp() as q:
                topology = change(q, spec['topology'])
        finally:
            # Whatever happened, the record follows QEMU.
            with dom.qmp() as q:
                topology = read_devices(q, spec['topology'])
            spec['topology'] = topology
            spec['vcpus'], spec['ram_mb'] = totals(topology)
            dom.write_definition(definition)
        return {'vcpus': spec['vcpus'], 'ram_mb': spec['ram_mb']}

    def hotplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        return self._change('hotplug', instance_uuid, host,
                            lambda q, t: plug(q, t, vcpus, ram_mb))

    def hot_unplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        timeout = self.conf.compute.hot_unplug_timeout
        return self._change('hot_unplug', instance_uuid, host,
                            lambda q, t: unplug(q, t, vcpus, ram_mb, timeout,
                                                instance_uuid, host))
