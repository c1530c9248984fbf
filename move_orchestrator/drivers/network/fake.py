"""Port bindings as database rows, one per instance and host.

Durable (a conductor restarted after a crash finds them as they were) and
shared by every conductor and agent of the cloud, as Neutron's are.
Activation changes an instance's rows in one transaction: exactly one
binding is active after it, whatever crashes.
"""

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from move_orchestrator.drivers.network import base
from move_orchestrator import exception


class FakeNetworkDriver(base.NetworkDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self._db = db_session.get_database(conf.database.connection)

    @staticmethod
    def _rows(session, instance_uuid):
        return session.scalars(sa.select(models.FakePortBinding).filter_by(
            instance_uuid=instance_uuid)).all()

    def bindings(self, instance_uuid):
        with self._db.reader() as s:
            return {b.host: b.active for b in self._rows(s, instance_uuid)}

    def bind_ports(self, instance_uuid, host):
        with self._db.session() as s:
            if not any(b.host == host for b in self._rows(s, instance_uuid)):
                s.add(models.FakePortBinding(instance_uuid=instance_uuid,
                                             host=host, active=False))

    def activate_binding(self, instance_uuid, host):
        with self._db.session() as s:
            rows = self._rows(s, instance_uuid)
            if not any(b.host == host for b in rows):
                raise exception.DriverError(
                    operation='activate_binding',
                    reason='no binding of %s on %s' % (instance_uuid, host))
            for b in rows:
                b.active = b.host == host

    def unbind_ports(self, instance_uuid, host):
        with self._db.session() as s:
            rows = [b for b in self._rows(s, instance_uuid) if b.host == host]
            for b in rows:
                s.delete(b)
            return bool(rows)
