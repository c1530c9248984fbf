"""A migration record written by an agent before API 1.7, which kept every
host's records in one shared ``<instances_path>/_migrations``: after the
upgrade the driver still finds it, and moves it beside its source's."""

import os

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import migration

from tests.functional.qemu import domains


def test_a_record_in_the_shared_directory_is_found_and_moved(make_driver):
    driver = make_driver(storage_groups={'h1': 'g', 'h2': 'g'})
    spec = domains.boot(driver)
    domains.wait_for(lambda: len(domains.counters(driver, spec, 'h1')) > 10)
    domains.migrate(driver, spec)
    uuid = spec['uuid']
    per_host = os.path.join(driver.root, 'h1', migration.MIGRATIONS,
                            uuid + '.json')
    shared = os.path.join(driver.root, migration.MIGRATIONS, uuid + '.json')
    os.makedirs(os.path.dirname(shared))
    os.replace(per_host, shared)        # where an older agent left it

    described = driver.describe(uuid)
    assert described['migration']['status'] == base.MIGRATION_COMPLETED
    assert described['migration']['source'] == 'h1'
    assert os.path.exists(per_host) and not os.path.exists(shared)
    assert driver.destroy(uuid, 'h1') is True
