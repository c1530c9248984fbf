"""What a conductor process holds once: database, inventory, drivers, records.

Tasks get this object at construction (TaskFlow persists values, not
objects), so one process builds it once and every flow shares it.
"""

import contextlib


from move_orchestrator.conf import CONF
from move_orchestrator.db import drains as db_drains
from move_orchestrator.db import fencing
from move_orchestrator.db import inventory as inv
from move_orchestrator.db import moves as db_moves
from move_orchestrator.db import session as db_session
from move_orchestrator.drivers import compute
from move_orchestrator.drivers import network
from move_orchestrator import faults
from move_orchestrator.moves import drain as move_drain
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.persistence import waiting as persistence_waiting
from move_orchestrator.records import history
from move_orchestrator.records import tasks as records


class Services:
    def __init__(self, conf=CONF, driver=None, persistence=None, network=None):
        self.conf = conf
        self.db = db_session.get_database(conf.database.connection)
        self.inventory = inv.Inventory(self.db)
        self.store = db_moves.MoveStore(
            self.db, self.inventory, move_types.UNFINISHED_STATES,
            fencing.Fences(types_base.STAGES))
        self.drains = db_drains.DrainStore(self.db, move_drain.UNFINISHED)
        self.records = records.TaskRecords(self.store, self.drains)
        self.task_faults = faults.parse(conf.fault_injection.task_faults)
        self._driver = driver
        self._network = network
        self.history = history.AtomHistoryWriter()
        self._backend = persistence   # None: ours, on our engine

    @property
    def driver(self):
        if self._driver is None:
            self._driver = compute.load_driver(conf=self.conf)
        if self._driver.claims is None:
            self._driver.claims = self.store.fences
        return self._driver

    @property
    def network(self):
        """Port bindings: the network driver's, not a compute host's."""
        if self._network is None:
            self._network = network.load_driver(conf=self.conf)
        return self._network

    @property
    def allocation_ratios(self):
        s = self.conf.scheduler
        return {'vcpus': s.cpu_allocation_ratio,
                'ram_mb': s.ram_allocation_ratio,
                'disk_gb': s.disk_allocation_ratio}

    @property
    def persistence(self):
        """Our TaskFlow persistence backend, on our own engine."""
        if self._backend is None:
            # Its saves wait out a database outage (persistence/waiting).
            self._backend = persistence_waiting.Backend(
                {'connection': self.conf.database.connection},
                engine=self.db.engine)
            self._backend.add_save_hook(self.history)
            self._backend.add_flow_hook(self.history.flow_saved)
            self._backend.add_write_guard(self.store.fences.check_flow)
        return self._backend

    def close(self):
        if self._driver is not None:
            self._driver.close()

    def upgrade_persistence(self):
        with contextlib.closing(self.persistence.get_connection()) as conn:
            conn.upgrade()
