"""An operator's CLI: what it shows, the same in every format."""

import importlib.metadata

from tests.functional.cli.common import mo
from tests.functional.cli.common import show


# -- output --------------------------------------------------------------
def test_version_is_the_package_version(cloud):
    out = mo(cloud, '--version').stdout.decode()
    assert out.strip() == 'move-orchestrator %s' % importlib.metadata.version(
        'move-orchestrator')


def test_instance_and_host_show(cloud):
    inst = show(mo(cloud, 'instance', 'show', 'vm7', '-f', 'json'))
    assert (inst['Name'], inst['Host'], inst['Flavor']) == (
        'vm7', 'compute1', 'm1.small')
    assert mo(cloud, 'instance', 'show', inst['ID'], '-f', 'value', '-c',
              'Name').stdout.decode() == 'vm7\n'
    host = show(mo(cloud, 'host', 'show', 'compute1', '-f', 'json'))
    assert host['State'] == 'up' and 'vm7' in host['Instances'].split(', ')
    assert host['Used VCPUs'] >= 1


def test_task_list_filters(cloud):
    done = show(mo(cloud, 'move', 'vm5', '--to', 'compute2', '--wait',
                   '-f', 'json'))
    tasks = show(mo(cloud, 'task', 'list', '--host', 'compute2', '--type',
                    'live-migrate', '-f', 'json'))
    assert done['ID'] in [t['ID'] for t in tasks]
    assert {t['Type'] for t in tasks} == {'live-migrate'}
    assert all('compute2' in (t['Source'], t['Destination']) for t in tasks)
    reverted = show(mo(cloud, 'task', 'list', '--state', 'completed', '-f',
                       'json'))
    assert {t['State'] for t in reverted} == {'completed'}
    assert done['Instance'] == 'vm5'


def test_task_list_filters_fill_the_page(cloud):
    """--type and --host filter in the query: with --limit 1 the newest
    task of another type does not leave the page empty."""
    # The module's cloud is shared: start from wherever vm5 is now.
    here = show(mo(cloud, 'instance', 'show', 'vm5', '-f', 'json'))['Host']
    there = 'compute2' if here != 'compute2' else 'compute1'
    live = show(mo(cloud, 'move', 'vm5', '--to', there, '--wait',
                   '-f', 'json'))
    cold = show(mo(cloud, 'move', 'vm5', '--cold', '--to',
                   'compute1' if there == 'compute2' else 'compute5',
                   '--wait', '-f', 'json'))
    assert (live['Type'], cold['Type']) == ('live-migrate', 'cold-migrate')
    page = show(mo(cloud, 'task', 'list', '--host', 'compute2', '--type',
                   'live-migrate', '--limit', '1', '-f', 'json'))
    assert len(page) == 1 and page[0]['Type'] == 'live-migrate'
    assert 'compute2' in (page[0]['Source'], page[0]['Destination'])


def test_task_events_columns(cloud):
    done = show(mo(cloud, 'move', 'vm5', '--to', 'compute3', '--wait',
                   '-f', 'json'))
    columns = ['ID', 'At', 'Kind', 'Name', 'Phase', 'State', 'Progress']
    events = show(mo(cloud, 'task', 'events', done['ID'], '-f', 'json'))
    assert events and all(list(e) == columns for e in events)
    table = mo(cloud, 'task', 'events', done['ID']).stdout.decode()
    header = table.splitlines()[1]
    assert [c.strip() for c in header.strip('|').split('|')] == columns
    kinds = mo(cloud, 'task', 'events', done['ID'], '-f', 'value', '-c',
               'Kind').stdout.decode().split()
    assert kinds == [e['Kind'] for e in events]


def test_task_show_is_readable_at_80_columns(cloud):
    moved = show(mo(cloud, 'move', 'vm7', '--to', 'compute2', '--wait',
                    '-f', 'json'))
    doc = show(mo(cloud, 'task', 'show', moved['ID'], '-f', 'json'))
    out = mo(cloud, 'task', 'show', doc['ID'],
             env={'COLUMNS': '80'}).stdout.decode()
    for step in doc['Steps']:
        assert step['name'] in out, out
        assert step['started'][11:23] in out, out
    assert '…' not in out


def test_the_same_columns_in_every_format(cloud):
    doc = show(mo(cloud, 'move', 'vm1', '--cold', '--to', 'compute2',
                  '--wait', '-f', 'json'))
    for column in ('New Flavor', 'Old Flavor', 'Instance', 'State'):
        value = mo(cloud, 'task', 'show', doc['ID'], '-f', 'value', '-c',
                   column).stdout.decode().strip()
        assert value == str(doc[column])
        yaml_out = mo(cloud, 'task', 'show', doc['ID'], '-f', 'yaml', '-c',
                      column).stdout.decode()
        assert yaml_out.startswith('%s:' % column)
