"""A simulated cloud in a fresh database, for tests of whole moves.

Everything is real (database, TaskFlow engines, conductor, fake hypervisor
in the same database); only the hypervisor hosts are simulated.
"""

import sqlalchemy as sa

from move_orchestrator import audit
from move_orchestrator import cloud as cloud_mod
from move_orchestrator.conductor import api
from move_orchestrator.conductor import claims as claims_mod
from move_orchestrator.conductor import runner
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF
from move_orchestrator.db import migration
from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from move_orchestrator import faults

DEFAULTS = {
    'conductor': {'poll_interval': 0.001, 'cleanup_retry_delay': 0.0},
    'fake_driver': {'faults': [], 'operation_delay': 0.0},
    'fault_injection': {'task_faults': []},
}


class _Services(services_mod.Services):
    """The conductor's, and what a test makes of its restart."""

    def __init__(self, conf):
        super().__init__(conf)
        self.old_drivers = []

    def restart_driver(self):
        """Keep the compute driver out of use: the next use loads a new one,
        as a restarted conductor process would have it."""
        if self._driver is not None:
            self.old_drivers.append(self._driver)
            self._driver = None

    def use_driver(self, driver):
        """The compute driver of another conductor process from now on."""
        self.restart_driver()
        self.old_drivers.remove(driver)
        self._driver = driver

    def close(self):
        for driver in self.old_drivers:
            driver.close()
        self.old_drivers = []
        super().close()


class Cloud:
    def __init__(self, url, task_faults=(), driver_faults=(), seed=True,
                 run_jobs=False, **overrides):
        """``run_jobs``: with a ``jobboard__backend``, this process is a
        conductor of the board (claims and runs the moves posted)."""
        self.url = url
        self._overrides = []
        self.override('connection', url, 'database')
        opts = {g: dict(v) for g, v in DEFAULTS.items()}
        opts['fault_injection']['task_faults'] = list(task_faults)
        opts['fake_driver']['faults'] = list(driver_faults)
        for key, value in overrides.items():
            group, _, name = key.partition('__')
            opts.setdefault(group, {})[name] = value
        for group, values in opts.items():
            for name, value in values.items():
                self.override(name, value, group)
        faults.reset()
        migration.upgrade(url)
        self.services = _Services(CONF)
        self.services.upgrade_persistence()
        self.api = api.ConductorAPI(self.services, runner.Conductor(
            self.services, claims_mod.for_conf(self.services, run=run_jobs)))
        assert self.api.conductor.start(), 'another conductor owns the db'
        self.instances = {}
        if seed:
            for inst in cloud_mod.create_demo_cloud(self.services):
                self.instances[inst['name']] = inst

    def override(self, name, value, group):
        CONF.set_override(name, value, group=group)
        self._overrides.append((name, group))

    def close(self):
        # Every move has ended; idle workers need not be waited for.
        self.api.shutdown(wait=False)
        for name, group in self._overrides:
            CONF.clear_override(name, group=group)
        db_session.reset()

    def restart_conductor_driver(self):
        """What a conductor restart does to the compute driver: a new
        instance of ``[compute] driver`` from the conf as it is now,
        remembering nothing of the old one (the rpc driver's clients, say).
        The old one is closed with the cloud: a call of a running move may
        still be on it. Returns the old one."""
        old = self.services.driver
        self.services.restart_driver()
        return old

    def use_driver(self, driver):
        """Run on with an earlier driver of this cloud (one that
        restart_conductor_driver returned): what a conductor that knew
        the cloud before sees when it takes a move over."""
        self.services.use_driver(driver)

    # -- acting --------------------------------------------------------------
    def move(self, instance, timeout=60, **kwargs):
        """Submit a move and wait for its end; the final task document."""
        doc = self.api.move_instance(None, instance, **kwargs)
        return self.api.wait_task(None, doc['id'], timeout=timeout)

    def instance(self, name):
        return self.services.inventory.get_instance(name)

    def world(self, name):
        """The hypervisor's describe(), with the network's bindings."""
        uuid = self.instance(name)['uuid']
        return dict(self.services.driver.describe(uuid),
                    bindings=self.services.network.bindings(uuid))

    def audit(self):
        return audit.audit(self.services)

    def claims_of(self, move_id):
        return self.services.inventory.list_allocations(consumer_uuid=move_id)

    def snapshot(self):
        """Every row of our tables: to show that a refusal changed nothing."""
        rows = {}
        with self.services.db.engine.connect() as conn:
            for table in models.Base.metadata.sorted_tables:
                rows[table.name] = sorted(
                    tuple(str(v) for v in r)
                    for r in conn.execute(sa.select(table)))
        return rows
