"""``move-orchestrator-manage db sync|version``."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

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


def add_command_parsers(subparsers):
    db = subparsers.add_parser('db', help='database schema')
    db_sub = db.add_subparsers(dest='action')
    db_sub.required = True
    db_sub.add_parser('sync', help='create or upgrade the schema'
                      ).set_defaults(func=_db_sync)
    db_sub.add_parser('version', help='print the schema revision'
                      ).set_defaults(func=_db_version)


def main(argv=None):
    CONF.register_cli_opt(cfg.SubCommandOpt(
        'category', title='commands', handler=add_command_parsers))
    logging.register_options(CONF)
    CONF(sys.argv[1:] if argv is None else argv, project='move-orchestrator')
    logging.setup(CONF, 'move-orchestrator-manage')
    CONF.category.func()
    return 0


if __name__ == '__main__':
    sys.exit(main())
