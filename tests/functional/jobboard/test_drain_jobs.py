"""A drain's children are jobs on the board as soon as they are made."""

from tests.functional.rpc import harness


def test_drain_children_are_posted_when_made(cluster):
    """With a long claim expiry, a child that had to wait for the sweep
    posting lost jobs (moves older than an expiry) would hold the drain a
    minute per child: the drain ends well within one expiry instead, and
    no conductor had to post a child again."""
    with cluster(count=2, expiry=60.0, delay=0.02) as c:
        for _ in range(4):
            harness.boot(c.services, c.hosts[0])
        drain = c.api.drain_host(c.admin, c.hosts[0])
        done = harness.wait_task(c.api, c.admin, drain['id'], timeout=45)
        assert done['state'] == 'completed', done['reason']
        assert len(done['children']) == 4
        assert c.services.inventory.list_instances(host=c.hosts[0]) == []
        for proc in c.conductors:
            assert 'had no job on the board' not in proc.log_text()
