"""The libvirt driver's domain XML, and the refusal it raises."""

from xml.etree import ElementTree as ET

from move_orchestrator.api import errors
from move_orchestrator.drivers.compute.libvirt import domain_xml
from move_orchestrator import exception

SPEC = {'uuid': '6e0c9a49-54a4-4d4b-8e53-8fb1c2b1f7a1', 'name': 'vm1',
        'vcpus': 2, 'ram_mb': 96, 'disk_gb': 1}


def _build(**kwargs):
    return domain_xml.build(SPEC, 'qemu', '/k/guest.elf', 'fill=48 dirty=0 pages=0',
                            '/h1/disk.qcow2', '/h1/serial.log', **kwargs)


def test_domain_from_the_spec():
    dom = ET.fromstring(_build())
    assert dom.get('type') == 'qemu'
    assert dom.findtext('uuid') == SPEC['uuid'] == dom.findtext('name')
    assert (dom.findtext('memory'), dom.find('memory').get('unit')) == ('96', 'MiB')
    assert dom.findtext('vcpu') == '2'
    assert dom.findtext('os/kernel') == '/k/guest.elf'
    assert dom.findtext('os/cmdline') == 'fill=48 dirty=0 pages=0'
    assert dom.find('devices/disk/source').get('file') == '/h1/disk.qcow2'
    assert dom.find('devices/disk/driver').get('type') == 'qcow2'
    assert dom.find('devices/serial/source').get('path') == '/h1/serial.log'


def test_spec_and_migration_round_trip():
    assert domain_xml.read(_build()) == (SPEC, None)
    rec = {'id': 'move-1', 'source': 'host1', 'dest': 'host2'}
    moved = domain_xml.retarget(_build(), '/h2/disk.qcow2', '/h2/serial.log', rec)
    dom = ET.fromstring(moved)
    assert dom.find('devices/disk/source').get('file') == '/h2/disk.qcow2'
    assert dom.find('devices/serial/source').get('path') == '/h2/serial.log'
    assert domain_xml.read(moved) == (SPEC, rec)


def test_metadata_as_libvirt_returns_it():
    """libvirt puts the namespace on the element it was given (without
    one) and may leave the children unqualified: both read the same."""
    text = domain_xml.metadata_text(SPEC, {'id': 'm'})
    assert 'xmlns' not in text
    children = text[len('<instance>'):-len('</instance>')]
    xml = ('<domain><metadata><mo:instance xmlns:mo="%s">%s</mo:instance>'
           '</metadata></domain>' % (domain_xml.NS, children))
    assert domain_xml.read(xml) == (SPEC, {'id': 'm'})
    assert domain_xml.read('<domain><name>other</name></domain>') == ({}, None)


def test_not_supported_is_a_501_driver_error():
    error = exception.DriverNotSupported(driver='libvirt', operation='resize')
    assert isinstance(error, exception.DriverError)
    assert errors.code_and_status(error) == ('moveorchestrator.driver.not_supported',
                                             501)
    assert '\n' not in str(error)
