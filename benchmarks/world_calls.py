"""The time a move's steps spend in calls to the world: the compute driver
(the hypervisor) and the network driver (the ports).

Why: the orchestrator's cost outside a live migration's window is two
things, the world's work its steps ask for (quitting the source's QEMU,
confirming the arrival, binding ports: a bare client does some of it too,
and a cloud spends it in its hypervisor and in Neutron) and the
orchestration around them (TaskFlow, the records, the claim, commits).
Only the second is what TaskFlow's no-op floor can be compared with.
"""

import time


class Timed:
    """A driver whose public calls are timed: (epoch start, end) each, in
    ``calls``. Attributes are read and set on the driver itself."""

    def __init__(self, target, calls):
        object.__setattr__(self, '_target', target)
        object.__setattr__(self, '_calls', calls)

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if name.startswith('_') or not callable(value):
            return value
        calls = self._calls

        def timed(*args, **kwargs):
            start = time.time()
            try:
                return value(*args, **kwargs)
            finally:
                calls.append((start, time.time()))
        return timed

    def __setattr__(self, name, value):
        setattr(self._target, name, value)


def outside(calls, start, end):
    """Seconds of the calls that fall outside [start, end] (epoch), each
    moment once: a call made inside another (``at_once``'s calls are the
    driver's own, timed too) or beside it (an rpc driver's threads) is not
    the world's time twice."""
    merged = []
    for a, b in sorted(calls):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return sum(max(0.0, min(b, start) - a) + max(0.0, b - max(a, end))
               for a, b in merged)
