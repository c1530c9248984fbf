"""The functional suite's own checks of how it is run."""

import pytest


def pytest_runtest_setup(item):
    """A test marked ``xdist_group`` fails when pytest-xdist's ``--dist
    loadgroup`` does not keep its group on one worker: the suite relies on
    it for tests that must not run at once, and the grouping can fail
    silently (pytest 9.2's node ids with pytest-xdist 3.8: pytest-xdist
    issue 1386)."""
    if item.config.getoption('loadgroup', default=False) and \
            item.get_closest_marker('xdist_group') and '@' not in item.nodeid:
        pytest.fail('--dist loadgroup does not keep the xdist_group of this '
                    'test on one worker with pytest %s: use a pytest and '
                    'pytest-xdist that do (see test-requirements.txt)'
                    % pytest.__version__, pytrace=False)
