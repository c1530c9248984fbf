"""Fresh, empty databases for tests: SQLite file, PostgreSQL, MariaDB.

API (keep it small):

* ``fresh_database(kind, tmp_dir=None)``: context manager yielding the URL of
  a new empty database (``kind`` in ``KINDS``), dropped on exit. Server
  databases are named ``mo_test_<hex>`` and made with oslo.db's provisioning
  (``oslo_db.sqlalchemy.provision``) from the admin URLs below. An
  unreachable server skips the test, or fails it under ``CI=true``
  (:func:`tests.services.require_service`).
* ``DatabaseFixture(kind)``: the same as a ``fixtures.Fixture`` for
  unittest/testtools tests: ``url = self.useFixture(DatabaseFixture(k)).url``.
* pytest fixtures ``sqlite_url``, ``postgresql_url``, ``mysql_url`` and
  ``db_url`` (parametrized over all three). Import the names you use into
  your test module (``from tests.db_fixtures import db_url  # noqa: F401``).

``MO_TEST_POSTGRESQL_ADMIN_URL`` / ``MO_TEST_MYSQL_ADMIN_URL`` override the
admin URLs.
"""

import contextlib
import os
import tempfile
import uuid

import fixtures
from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import provision
import pytest

from tests import services

KINDS = ('sqlite', 'postgresql', 'mysql')
ADMIN_URLS = {
    'postgresql': ('postgresql+psycopg2://root@127.0.0.1:5432/test',
                   'postgresql+psycopg2://postgres@127.0.0.1:5432/test'),
    'mysql': ('mysql+pymysql://root:@127.0.0.1:3306/test',),
}
_BACKENDS = {}


def _admin_backend(kind):
    """An oslo.db provisioning backend on the first admin URL that works."""
    if kind in _BACKENDS:
        return _BACKENDS[kind]
    services.require_service(kind)
    env = os.environ.get('MO_TEST_%s_ADMIN_URL' % kind.upper())
    errors = []
    for url in (env,) if env else ADMIN_URLS[kind]:
        backend = provision.Backend(kind, url)
        try:
            _BACKENDS[kind] = backend._verify()
            return backend
        except db_exc.BackendNotAvailable as e:
            errors.append('%s: %s' % (url, e))
    services.unavailable(kind, '; '.join(errors))


@contextlib.contextmanager
def fresh_database(kind, tmp_dir=None):
    """Yield the URL of a new, empty database of ``kind``; drop it after."""
    if kind == 'sqlite':
        with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
            yield 'sqlite:///%s' % os.path.join(d, 'test.db')
        return
    backend = _admin_backend(kind)
    name = 'mo_test_%s' % uuid.uuid4().hex[:12]
    backend.create_named_database(name)
    try:
        yield backend.provisioned_database_url(name).render_as_string(
            hide_password=False)
    finally:
        backend.drop_named_database(name, conditional=True)


class DatabaseFixture(fixtures.Fixture):
    """``fresh_database`` for testtools tests; the URL is in ``.url``."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.url = None

    def setUp(self):
        # Fixture.setUp turns any error of _setUp into a SetupError, which
        # testtools reports as a failure: check the server first so that a
        # skip stays a skip.
        if self.kind != 'sqlite':
            _admin_backend(self.kind)
        super().setUp()

    def _setUp(self):
        cm = fresh_database(self.kind)
        self.url = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)


@pytest.fixture
def sqlite_url(tmp_path):
    with fresh_database('sqlite', tmp_dir=tmp_path) as url:
        yield url


@pytest.fixture
def postgresql_url():
    with fresh_database('postgresql') as url:
        yield url


@pytest.fixture
def mysql_url():
    with fresh_database('mysql') as url:
        yield url


@pytest.fixture(params=KINDS)
def db_url(request, tmp_path):
    with fresh_database(request.param, tmp_dir=tmp_path) as url:
        yield url
