"""The alembic migrations build what models.py declares, on every database.

oslo.db's ModelsMigrationsSync runs the migrations on a fresh database and
compares the result with the models (tables, columns, types, defaults,
indexes): a migration that forgets a column, or a model that forgets a
migration, fails here. TaskFlow's own tables (its own alembic history) are
left out.
"""

from oslo_db.sqlalchemy import test_migrations
import sqlalchemy as sa
import testtools

from move_orchestrator.db import migration
from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from tests import db_fixtures


class _ModelsMatchMigrations(test_migrations.ModelsMigrationsSync):
    KIND = None

    def setUp(self):
        super().setUp()
        self.url = self.useFixture(db_fixtures.DatabaseFixture(self.KIND)).url
        self.addCleanup(db_session.reset)
        # A plain engine to compare and clean up with: ours for SQLite makes
        # every transaction BEGIN IMMEDIATE, and oslo.db's clean-up reads
        # through a second connection inside its own transaction.
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)

    def get_engine(self):
        return self.engine

    def get_metadata(self):
        return models.Base.metadata

    def db_sync(self, engine):
        migration.upgrade(self.url)

    def include_object(self, object_, name, type_, reflected, compare_to):
        if type_ == 'table':
            return name in models.Base.metadata.tables
        return True


class TestSQLite(_ModelsMatchMigrations, testtools.TestCase):
    KIND = 'sqlite'


class TestPostgreSQL(_ModelsMatchMigrations, testtools.TestCase):
    KIND = 'postgresql'


class TestMySQL(_ModelsMatchMigrations, testtools.TestCase):
    KIND = 'mysql'
