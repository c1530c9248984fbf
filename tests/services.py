"""The one rule for tests that need a real service on 127.0.0.1.

``require_service(name)`` returns quietly when the service answers. When it
does not, the test is skipped with the command that starts it, except under
``CI=true``, where a missing service is a failure: CI must not go green by
skipping.
"""

import os
import socket
import unittest

import pytest

SERVICES = {
    'postgresql': ('PostgreSQL', 5432,
                   'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'),
    'mysql': ('MariaDB', 3306,
              'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd'),
    'rabbitmq': ('RabbitMQ', 5672, 'rabbitmq-server -detached'),
    'redis': ('Redis', 6379,
              'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
              '--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log'),
}
HOST = '127.0.0.1'


def in_ci():
    return os.environ.get('CI', '').lower() == 'true'


def is_listening(port, host=HOST, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(name, reason=None):
    """Skip (or, under CI=true, fail) the current test: ``name`` is not usable."""
    label, port, start = SERVICES[name]
    msg = '%s is not running on %s:%d: start it with `%s`' % (label, HOST, port, start)
    if reason:
        msg = '%s (%s)' % (msg, reason)
    if in_ci():
        pytest.fail(msg, pytrace=False)
    # unittest's SkipTest: both pytest and testtools test cases honour it.
    raise unittest.SkipTest(msg)


def require_service(name):
    """Skip or fail (see module doc) unless service ``name`` answers."""
    if not is_listening(SERVICES[name][1]):
        unavailable(name)
