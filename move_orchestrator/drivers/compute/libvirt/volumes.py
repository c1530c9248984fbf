"""A disk copied between hosts by libvirt itself: the source's daemon serves
it as a storage volume, the destination downloads it over libvirt's stream
API (``virStorageVolDownload``), as cold migration and resize need.

The export is a transient directory pool over the instance's disk directory
on the source host, named after the instance: it holds nothing but the
definition, so stopping it (``unexport_disk``) leaves the disk alone, and a
daemon restart forgets it.
"""

import contextlib
import os
from xml.etree import ElementTree as ET

from oslo_log import log as logging

from move_orchestrator.drivers.compute.libvirt import states
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

CHUNK = 4 << 20


def _pool_name(instance_uuid):
    return 'mo-export-' + instance_uuid


def _pool_xml(name, path):
    pool = ET.Element('pool', type='dir')
    ET.SubElement(pool, 'name').text = name
    ET.SubElement(ET.SubElement(pool, 'target'), 'path').text = path
    return ET.tostring(pool, encoding='unicode')


class VolumesMixin:
    """export_disk / unexport_disk / import_disk of LibvirtDriver."""

    def _export_pool(self, instance_uuid, host):
        try:
            return self.conns.get(host).storagePoolLookupByName(
                _pool_name(instance_uuid))
        except states.libvirt.libvirtError as e:
            if states.error_code(e) == states.libvirt.VIR_ERR_NO_STORAGE_POOL:
                return None
            raise exception.DriverError(operation='export_disk', reason=str(e))

    def export_disk(self, instance_uuid, host):
        path = self.disk_path(instance_uuid, host)
        if not os.path.exists(path):
            raise exception.DriverError(operation='export_disk', reason='no disk '
                                        'for %s on %s' % (instance_uuid, host))
        pool = self._export_pool(instance_uuid, host)
        if pool is None:        # else a re-run: the same export
            name = _pool_name(instance_uuid)
            pool = self.conns.get(host).storagePoolCreateXML(
                _pool_xml(name, os.path.dirname(path)), 0)
        pool.refresh(0)
        return {'host': host, 'uri': self.conns.inbound(host), 'pool': pool.name(),
                'volume': os.path.basename(path), 'image': None,
                'size_bytes': self.img.virtual_size(path)}

    def unexport_disk(self, instance_uuid, host):
        try:
            pool = self._export_pool(instance_uuid, host)
        except exception.DriverError as e:
            LOG.warning('Export of %s on %s not stopped: %s', instance_uuid, host, e)
            return False
        if pool is None:
            return False
        with contextlib.suppress(states.libvirt.libvirtError):
            pool.destroy()      # transient: gone with it
        return True

    def import_disk(self, instance_uuid, host, export, size_gb):
        dst = self.disk_path(instance_uuid, host)
        if os.path.exists(dst):
            # Downloaded whole before (renamed into place): a re-run.
            self.img.grow(dst, size_gb, operation='import_disk')
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + '.part'
        conn = None
        try:
            conn = states.libvirt.open(export['uri'])
            vol = conn.storagePoolLookupByName(export['pool']).storageVolLookupByName(
                export['volume'])
            stream = conn.newStream(0)
            vol.download(stream, 0, 0, 0)
            with open(tmp, 'wb') as f:
                while True:
                    data = stream.recv(CHUNK)
                    if not data:
                        break
                    f.write(data)
            stream.finish()
            self.img.grow(tmp, size_gb, operation='import_disk')
        except states.libvirt.libvirtError as e:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise exception.DriverError(operation='import_disk', reason=str(e))
        except Exception:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        finally:
            if conn is not None:
                with contextlib.suppress(states.libvirt.libvirtError):
                    conn.close()
        os.replace(tmp, dst)
