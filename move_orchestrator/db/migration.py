"""Schema migrations (alembic), run by ``move-orchestrator-manage db sync``.

Our version table has its own name: TaskFlow's persistence backend keeps its
own alembic history in the same database.
"""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration

from move_orchestrator.db import session as db_session

SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), 'migrations')
VERSION_TABLE = 'move_orchestrator_alembic_version'


def _config(connection):
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', SCRIPT_LOCATION)
    cfg.attributes['connection'] = connection
    return cfg


def upgrade(url=None, revision='head'):
    db = db_session.get_database(url)
    with db.engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def version(url=None):
    db = db_session.get_database(url)
    with db.engine.connect() as connection:
        ctx = alembic_migration.MigrationContext.configure(
            connection, opts={'version_table': VERSION_TABLE})
        return ctx.get_current_revision()


def revision(url, message):
    """Autogenerate a migration from the models (developers only)."""
    db = db_session.get_database(url)
    with db.engine.begin() as connection:
        command.revision(_config(connection), message=message,
                         autogenerate=True)
