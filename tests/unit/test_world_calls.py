"""The benchmark's split of a move's time outside the migration window:
the drivers' calls (timed by a proxy) against the orchestration's own."""

from benchmarks import world_calls


class Driver:
    claims = None

    def spawn(self, host):
        return 'spawned on %s' % host


def test_calls_are_timed_and_attributes_reach_the_driver():
    calls, driver = [], Driver()
    timed = world_calls.Timed(driver, calls)
    assert timed.spawn('h1') == 'spawned on h1'
    assert len(calls) == 1 and calls[0][0] <= calls[0][1]
    timed.claims = 'fences'          # as Services sets it
    assert driver.claims == 'fences' and timed.claims == 'fences'
    assert 'claims' not in vars(timed)


def test_only_what_falls_outside_the_window_counts():
    calls = [(1.0, 2.0),        # before the window: all of it
             (9.0, 11.0),       # across its start: 1 s outside
             (12.0, 13.0),      # inside: nothing
             (19.5, 21.0)]      # across its end: 1 s outside
    assert world_calls.outside(calls, 10.0, 20.0) == 1.0 + 1.0 + 1.0


def test_a_call_made_inside_another_counts_once():
    # at_once(destroy, shares_storage): the batch and its calls are all
    # timed; a call around the window and those within it count once.
    calls = [(1.0, 1.5), (1.5, 2.0), (1.0, 2.0),
             (8.0, 22.0), (9.0, 11.0), (19.5, 21.0),
             (30.0, 32.0), (31.0, 33.0)]    # side by side: 3 s, not 4
    assert world_calls.outside(calls, 10.0, 20.0) == 1.0 + 4.0 + 3.0
