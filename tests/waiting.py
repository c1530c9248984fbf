"""Waiting for a condition in tests, with a deadline and a clear failure."""

import time


def wait_for(predicate, timeout=60.0, interval=0.02, what=None):
    """The first truthy value of predicate(), polled until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s'
                                 % (what or predicate))
        time.sleep(interval)
