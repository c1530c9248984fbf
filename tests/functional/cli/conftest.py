"""One cloud per test module (they share it, in order)."""

import json

import pytest

from tests.functional.cli.common import FAULTS
from tests.functional.cli.common import INVENTORY
from tests.functional.cli.common import run
from tests.functional.cli.common import write_config


@pytest.fixture(scope='module')
def cloud(tmp_path_factory):
    path = tmp_path_factory.mktemp('cloud')
    config = write_config(
        path / 'mo.conf', database={'connection': 'sqlite:///%s'
                                    % (path / 'mo.db')},
        fake_driver={'faults': FAULTS, 'operation_delay': 0.01})
    (path / 'inventory.json').write_text(json.dumps(INVENTORY))
    for args in (('db', 'sync'), ('inventory', 'load', 'inventory.json')):
        proc = run(path, 'move-orchestrator-manage', *args, config=config)
        assert proc.returncode == 0, proc.stderr
    return path, config
