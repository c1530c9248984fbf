"""``move-orchestrator-manage db sync|version`` and
``move-orchestrator-manage inventory load FILE``."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from move_orchestrator.cmd import start
from move_orchestrator.conf import CONF
from move_orchestrator.db import migration

LOG = logging.getLogger(__name__)


def sync_schema(url=None):
    """Our tables (alembic), then TaskFlow's persistence tables."""
    migration.upgrade(url)
    from move_orchestrator.conductor import services
    services.Services().upgrade_persistence()


def _db_sync():
    sync_schema()
    print('database at revision %s' % migration.version())


def _db_version():
    print(migration.version() or 'empty')


def _inventory_load():
    """Hosts, flavors and instances from a YAML or JSON file (JSON is
    YAML); the ones already there, by name, are left as they are."""
    import yaml

    from move_orchestrator import cloud
    from move_orchestrator.conductor import services
    path = CONF.category.path
    try:
        with open(path, 'rb') as f:
            document = yaml.safe_load(f)
    except OSError as e:
        raise InventoryFileError('%s: %s' % (path, e.strerror))
    except yaml.YAMLError as e:
        raise InventoryFileError('%s: not YAML or JSON: %s'
                                 % (path, str(e).splitlines()[0]))
    report = cloud.load_inventory(services.Services(), document or {})
    for kind, (created, present) in report.items():
        print('%s: %d created%s' % (
            kind, len(created), ', %d already present (%s)' % (
                len(present), ', '.join(present)) if present else ''))


class InventoryFileError(Exception):
    """A file that cannot be read as an inventory."""


def add_command_parsers(subparsers):
    db = subparsers.add_parser('db', help='database schema')
    db_sub = db.add_subparsers(dest='action')
    db_sub.required = True
    db_sub.add_parser('sync', help='create or upgrade the schema'
                      ).set_defaults(func=_db_sync)
    db_sub.add_parser('version', help='print the schema revision'
                      ).set_defaults(func=_db_version)
    inventory = subparsers.add_parser('inventory', help='hosts, flavors, '
                                      'instances')
    inv_sub = inventory.add_subparsers(dest='action')
    inv_sub.required = True
    load = inv_sub.add_parser('load', help='load a YAML or JSON inventory '
                              'file into the database')
    load.add_argument('path', metavar='FILE')
    load.set_defaults(func=_inventory_load)


def main(argv=None):
    CONF.register_cli_opt(cfg.SubCommandOpt(
        'category', title='commands', handler=add_command_parsers))
    code = start.configure(argv, 'move-orchestrator-manage')
    if code is not None:
        return code
    try:
        CONF.category.func()
    except InventoryFileError as e:
        sys.stderr.write('Error: %s\n' % e)
        return 1
    except Exception as e:  # noqa: BLE001 - one line, the trace at debug
        from move_orchestrator.cli import errors
        LOG.debug('%s failed', CONF.category.name, exc_info=True)
        sys.stderr.write('Error: %s\n' % errors.one_line(e))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
