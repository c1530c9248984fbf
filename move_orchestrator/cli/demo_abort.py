"""The demos' last act: a throttled live migration an operator aborts
mid-copy, the same with every driver that runs real guests."""

import time

COPYING = ('accepted', 'claiming', 'pre-checking', 'preparing-destination',
           'migrating-memory')


def abort_mid_copy(client, name, hosts, within=60):
    """Move ``name`` live to the first of ``hosts`` it is not on, abort the
    move once its memory copy has sent more than 1 MiB, and return the
    move's final task document (``reverted`` unless the copy won)."""
    ctxt = client.context
    here = client.services.inventory.get_instance(name)['host']
    doc = client.move_instance(ctxt, name,
                               destination=next(h for h in hosts if h != here))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        doc = client.get_task(ctxt, doc['id'])
        migration = client.services.driver.describe(doc['instance'])['migration'] or {}
        if doc['state'] not in COPYING or (
                doc['state'] == 'migrating-memory'
                and migration.get('transferred_mb', 0) > 1):
            break
        time.sleep(0.05)
    if doc['state'] == 'migrating-memory':
        client.abort_task(ctxt, doc['id'])
    return client.wait_task(ctxt, doc['id'])
