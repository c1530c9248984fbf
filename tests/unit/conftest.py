import pytest

from tests import harness


@pytest.fixture
def make_cloud(tmp_path):
    clouds = []

    def factory(**kwargs):
        cloud = harness.Cloud('sqlite:///%s' % (tmp_path / 'mo.db'),
                              **kwargs)
        clouds.append(cloud)
        return cloud

    yield factory
    for cloud in clouds:
        cloud.close()


@pytest.fixture
def cloud(make_cloud):
    return make_cloud()
