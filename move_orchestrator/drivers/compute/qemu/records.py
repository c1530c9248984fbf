"""Where a QEMU live migration's record is kept, and how it is found.

The record (``<source>/_migrations/<uuid>.json``, on the source's side: no
host reads another's) holds only what QEMU does not know: hosts, start
time, steps taken. Records written by agents before API 1.7 in the shared
``<root>/_migrations`` are moved beside their source's when looked for.
"""

import os

from oslo_log import log as logging

from move_orchestrator.drivers.compute.qemu import process

LOG = logging.getLogger(__name__)

MIGRATIONS = '_migrations'


class RecordsMixin:
    """The migration record of QemuDriver's MigrationMixin."""

    def _record_path(self, instance_uuid, host=None):
        """The record of the instance's latest migration from host (None:
        from any host this process sees), or None when there is none."""
        if host is None:
            host = self._record_source(instance_uuid)
        if host is None:
            return None
        return os.path.join(self.root, host, MIGRATIONS, instance_uuid + '.json')

    def _record_source(self, instance_uuid):
        """The host the latest recorded migration left from."""
        self._adopt_shared_record(instance_uuid)
        latest = None
        for host in self._hosts():
            rec = process.read_json(self._record_path(instance_uuid, host))
            if rec and (latest is None or rec['started_at'] > latest[0]):
                latest = (rec['started_at'], host)
        return latest and latest[1]

    def _adopt_shared_record(self, instance_uuid):
        """Agents before API 1.7 kept records in ``<root>/_migrations``,
        shared by every host: a migration in flight across an upgrade has
        its record moved beside its source's, where it is looked for now."""
        shared = os.path.join(self.root, MIGRATIONS, instance_uuid + '.json')
        rec = process.read_json(shared)
        if rec is None:
            return
        path = self._record_path(instance_uuid, rec['source'])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.replace(shared, path)
        LOG.info('Migration record of %s moved from %s to %s (written by an '
                 'agent before API 1.7)', instance_uuid, shared, path)

    def _record(self, instance_uuid):
        path = self._record_path(instance_uuid)
        return process.read_json(path) if path else None

    def _save(self, instance_uuid, rec):
        path = self._record_path(instance_uuid, rec['source'])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        process.write_json(path, rec)
