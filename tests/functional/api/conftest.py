import pytest

from tests.db_fixtures import fresh_database
from tests.functional.api import harness


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def api(request, tmp_path_factory):
    """The API served over a fresh database of each kind."""
    with fresh_database(request.param,
                        tmp_dir=tmp_path_factory.mktemp('api')) as url:
        server = harness.ApiServer(url)
        try:
            yield server
        finally:
            server.close()
