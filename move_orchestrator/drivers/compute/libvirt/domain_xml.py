"""The domain XML of an instance, and what we keep in its metadata.

The domain is named after the instance's uuid. Its ``<metadata>`` holds the
spec it was built from and the instance's last live migration (id, hosts,
its end when it failed or was cancelled, whether the move confirmed its
completion): libvirt carries both to the destination with the domain, so
the truth about a move lives with the domain, not in the driver process.
"""

import json
from xml.etree import ElementTree as ET

NS = 'https://opendev.org/move-orchestrator/xmlns/domain/1'
ET.register_namespace('mo', NS)


def _sub(parent, tag, text=None, **attrib):
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = str(text)
    return el


def metadata(spec, migration=None):
    """The <mo:instance> element: spec and migration as JSON."""
    root = ET.Element('{%s}instance' % NS)
    _sub(root, 'spec', json.dumps(spec, sort_keys=True))
    if migration is not None:
        _sub(root, 'migration', json.dumps(migration, sort_keys=True))
    return root


def _unqualified(inst):
    """virDomainSetMetadata takes the element without its namespace."""
    plain = ET.Element('instance')
    for child in inst:
        _sub(plain, _local(child.tag), child.text)
    return plain


def _local(tag):
    return tag.rsplit('}', 1)[-1]


def _fields(inst):
    """(spec, migration) from an <instance> element, whichever namespace
    libvirt gave its children."""
    found = {_local(child.tag): child.text for child in inst}
    return (json.loads(found['spec']) if found.get('spec') else {},
            json.loads(found['migration']) if found.get('migration') else None)


def build(spec, domain_type, kernel, cmdline, disk, serial, migration=None,
          ram_mb=None):
    """The XML of the instance's domain: the test guest booted by -kernel,
    one qcow2 disk (virtio), the serial port into a file."""
    dom = ET.Element('domain', type=domain_type)
    _sub(dom, 'name', spec['uuid'])
    _sub(dom, 'uuid', spec['uuid'])
    _sub(dom, 'metadata').append(metadata(spec, migration))
    _sub(dom, 'memory', ram_mb or spec['ram_mb'], unit='MiB')
    _sub(dom, 'vcpu', spec.get('vcpus') or 1)
    os_el = _sub(dom, 'os')
    _sub(os_el, 'type', 'hvm', arch='x86_64', machine='q35')
    _sub(os_el, 'kernel', kernel)
    _sub(os_el, 'cmdline', cmdline)
    for event in ('on_poweroff', 'on_crash'):
        _sub(dom, event, 'destroy')
    _sub(dom, 'on_reboot', 'restart')
    devices = _sub(dom, 'devices')
    disk_el = _sub(devices, 'disk', type='file', device='disk')
    _sub(disk_el, 'driver', name='qemu', type='qcow2', cache='none')
    _sub(disk_el, 'source', file=disk)
    _sub(disk_el, 'target', dev='vda', bus='virtio')
    serial_el = _sub(devices, 'serial', type='file')
    _sub(serial_el, 'source', path=serial, append='on')
    _sub(serial_el, 'target', port='0')
    _sub(devices, 'controller', type='usb', model='none')
    _sub(devices, 'memballoon', model='none')
    return ET.tostring(dom, encoding='unicode')


def retarget(xml, disk, serial, migration):
    """The source's XML for the destination: its disk and serial log at the
    destination's paths, the migration in its metadata."""
    dom = ET.fromstring(xml)
    dom.find('devices/disk/source').set('file', disk)
    dom.find('devices/serial/source').set('path', serial)
    meta = dom.find('metadata')
    old = meta.find('{%s}instance' % NS)
    spec, _ = _fields(old)
    meta.remove(old)
    meta.append(metadata(spec, migration))
    return ET.tostring(dom, encoding='unicode')


def read(xml):
    """(spec, migration) from a domain's XML; ({}, None) for a domain that
    is not ours."""
    inst = ET.fromstring(xml).find('metadata/{%s}instance' % NS)
    if inst is None:
        return {}, None
    return _fields(inst)


def metadata_text(spec, migration):
    """The element virDomainSetMetadata takes (namespace given apart)."""
    return ET.tostring(_unqualified(metadata(spec, migration)),
                       encoding='unicode')
