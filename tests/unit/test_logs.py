"""What leaves a process as text: URLs masked, values escaped."""

import io
import logging

import pytest

from move_orchestrator import logs
from move_orchestrator import redact


@pytest.mark.parametrize('url,masked', [
    ('rabbit://u:p4ss@h:5672/v', 'rabbit://u:***@h:5672/v'),
    ('rabbit://a:p1@h1:5672,b:p2@h2:5672/v?ssl=1',
     'rabbit://a:***@h1:5672,b:***@h2:5672/v?ssl=1'),
    ('postgresql+psycopg2://mo:p%40ss@db/mo', 'postgresql+psycopg2://mo:***@db/mo'),
    ('mysql+pymysql://root@127.0.0.1/test', 'mysql+pymysql://root@127.0.0.1/test'),
    ('sqlite:////var/lib/mo.db', 'sqlite:////var/lib/mo.db'),
    ('redis://:p4ss@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'),
    ('', ''),
])
def test_url(url, masked):
    assert redact.url(url) == masked


def test_text_masks_every_url_in_it():
    text = redact.text('failed: rabbit://u:p4ss@h/ then mysql://r:s3@db/x')
    assert 'p4ss' not in text and 's3@' not in text
    assert 'rabbit://u:***@h/' in text


def test_quote_bounds_and_escapes():
    assert redact.quote('a\nb\x1b[31m\u2028') == 'a\\nb\\x1b[31m\\u2028'
    quoted = redact.quote('x' * 100000)
    assert len(quoted) < 100 and quoted.endswith('(99936 more characters)')


@pytest.fixture
def logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter('%(levelname)s %(message)s'))
    logs.guard(handler)
    log = logging.getLogger('test_logs')
    log.addHandler(handler)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)


def test_a_value_cannot_forge_a_line(logger):
    log, stream = logger
    log.warning('Instance %s not found', 'vm1\nERROR forged line\x1b[2J')
    lines = stream.getvalue().splitlines()
    assert lines == ['WARNING Instance vm1\\nERROR forged line\\x1b[2J '
                     'not found']


def test_dict_args_and_exceptions_are_escaped(logger):
    log, stream = logger
    log.warning('%(name)s', {'name': 'a\rb'})
    log.error(ValueError('c\nd'))
    assert stream.getvalue().splitlines() == ['WARNING a\\rb', 'ERROR c\\nd']


def test_password_masked_in_message_and_traceback(logger):
    log, stream = logger
    try:
        raise ConnectionError('cannot reach rabbit://u:T0p-s3cret@h:5672/')
    except ConnectionError:
        log.exception('Connecting to %s', 'rabbit://u:T0p-s3cret@h:5672/')
    out = stream.getvalue()
    assert 'T0p-s3cret' not in out
    assert out.count('rabbit://u:***@h:5672/') == 3   # line, source, error
    assert 'Traceback' in out   # the traceback's own newlines stay


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def _storage_failure():
    """What the conductor logs when the disk is full: TaskFlow's
    StorageFailure, its cause the database's error."""
    import sqlite3

    from taskflow import exceptions as tf_exc
    try:
        try:
            raise sqlite3.OperationalError('database or disk is full')
        except sqlite3.OperationalError as e:
            raise tf_exc.StorageFailure('Failed saving atom details', e)
    except tf_exc.StorageFailure:
        import sys
        return sys.exc_info()


def test_a_repeated_failure_says_its_cause_first_and_once():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter('%(levelname)s %(message)s'))
    clock = Clock()
    logs.guard(handler, repeats=logs.RepeatedFailures(interval=30,
                                                      clock=clock))
    log = logging.getLogger('test_logs.repeats')
    log.addHandler(handler)
    log.propagate = False
    try:
        for second in range(70):   # one a second, as the conductor did
            clock.now = 100.0 + second
            log.error('Saving move %s failed', 'm1',
                      exc_info=_storage_failure())
    finally:
        log.removeHandler(handler)
    firsts = [line for line in stream.getvalue().splitlines()
              if line.startswith('ERROR ')]
    assert firsts == [
        'ERROR Saving move m1 failed: caused by OperationalError: database '
        'or disk is full',
        'ERROR Saving move m1 failed: caused by OperationalError: database '
        'or disk is full (29 more like this in the last 30 s)',
        'ERROR Saving move m1 failed: caused by OperationalError: database '
        'or disk is full (29 more like this in the last 30 s)']


def test_different_failures_are_not_held_back(logger):
    log, stream = logger
    for i in range(3):
        try:
            raise ValueError('bad %d' % i)
        except ValueError:
            log.exception('step failed')
    assert stream.getvalue().count('ERROR step failed') == 3
