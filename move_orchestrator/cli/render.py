"""Turning task documents into what an operator reads.

Columns follow the openstack client: Title Case, the same names in every
output format (``-c "New Flavor"`` works with ``-f table``, ``json`` and
``value``), plain values for ``-f value``, instance names beside UUIDs.
"""

import argparse
import datetime
import time

from cliff import columns as cliff_columns
from rich import box
from rich.console import Console
from rich.markup import escape as escape_markup
from rich import progress as rich_progress
from rich.table import Table

from move_orchestrator.cli import exitcodes
from move_orchestrator import states

STATE_STYLE = {'completed': 'green', 'reverted': 'yellow', 'failed': 'red',
               'SUCCESS': 'green', 'REVERTED': 'yellow', 'FAILURE': 'red',
               'REVERT_FAILURE': 'red'}

# (column, how to get it from a task document)
TASK_FIELDS = (
    ('ID', lambda d: d['id']),
    ('Instance', lambda d: d.get('instance_name') or ''),
    ('Instance ID', lambda d: d['instance']),
    ('Type', lambda d: d['type']),
    ('State', lambda d: d['state']),
    ('Abort Requested', lambda d: abort_requested(d)),
    ('Source', lambda d: d['source']),
    ('Destination', lambda d: d['destination']),
    ('Old Flavor', lambda d: d['flavors']['old']),
    ('New Flavor', lambda d: d['flavors']['new']),
    ('Point Of No Return', lambda d: bool(d['point_of_no_return'])),
    ('Reason', lambda d: d['reason'] or ''),
    ('Failed Step', lambda d: d['failed_step'] or ''),
    ('Waiting', lambda d: d.get('waiting') or ''),
    # Who runs it now (with several conductors: which log to read).
    ('Conductor', lambda d: d.get('conductor') or ''),
    ('Drain', lambda d: d.get('drain') or ''),
    ('Created', lambda d: d['created']),
    ('Finished', lambda d: d['finished'] or ''),
)
TASK_COLUMNS = tuple(name for name, _ in TASK_FIELDS)
LIST_COLUMNS = ('ID', 'Instance', 'Type', 'State', 'Source', 'Destination',
                'Created', 'Finished')


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('not a number: %.20r' % text)
    if not value > 0:
        raise argparse.ArgumentTypeError('must be more than 0: %s' % text)
    return value


def abort_requested(doc):
    """'yes (by whom)' once an operator asked for an abort: the mark stays
    after the move reverted, as the reason why."""
    aborts = [a for a in doc.get('actions') or () if a['action'] == 'abort']
    if not aborts:
        return ''
    return 'yes (%s)' % (aborts[-1]['user_id'] or 'operator')


def exit_code(doc):
    if doc['state'] not in states.TERMINAL_STATES:
        return exitcodes.TIMEOUT
    return exitcodes.of_states([doc['state']])


def instance_names(client):
    return {i['uuid']: i['name']
            for i in client.list_instances(client.context)}


def with_names(client, docs):
    names = instance_names(client)
    return [dict(d, instance_name=names.get(d['instance'], ''))
            for d in docs]


def task_row(doc, columns=TASK_COLUMNS):
    getters = dict(TASK_FIELDS)
    return tuple(getters[c](doc) for c in columns)


class HistoryColumn(cliff_columns.FormattableColumn):
    """The state changes: a line of states for people, the list for
    scripts."""

    def human_readable(self):
        if not self._value:
            return ''
        return '%d changes, %s to %s' % (len(self._value),
                                         self._value[0]['state'],
                                         self._value[-1]['state'])

    def machine_readable(self):
        return self._value


class StepsColumn(cliff_columns.FormattableColumn):
    def human_readable(self):
        counts = {}
        for step in self._value:
            counts[step['state']] = counts.get(step['state'], 0) + 1
        return ', '.join('%d %s' % (n, state)
                         for state, n in sorted(counts.items()))

    def machine_readable(self):
        return self._value


def task_view(client, doc, detail=False):
    """(columns, values) of one task for a ShowOne command."""
    doc = with_names(client, [doc])[0]
    columns, row = TASK_COLUMNS, task_row(doc)
    if detail:
        columns += ('History', 'Steps', 'Actions')
        row += (HistoryColumn(doc['history']), StepsColumn(doc['subtasks']),
                ActionsColumn(doc['actions']))
    return columns, row


class ActionsColumn(cliff_columns.FormattableColumn):
    def human_readable(self):
        return ', '.join('%s %s' % (a['action'], a['result'])
                         for a in self._value)

    def machine_readable(self):
        return self._value


def styled(state):
    style = STATE_STYLE.get(state)
    return '[%s]%s[/]' % (style, state) if style else state


def _parse(ts):
    return datetime.datetime.fromisoformat(ts) if ts else None


def duration(start, end):
    if not start or not end:
        return ''
    return '%.0f ms' % ((_parse(end) - _parse(start)).total_seconds() * 1000)


def _time(ts):
    """HH:MM:SS.mmm: the date is the task's, in its Created column."""
    return (ts or '')[11:23]


def history_table(doc):
    table = Table(title='%s %s: history' % (doc['type'], doc['id']),
                  box=box.SIMPLE)
    table.add_column('At', no_wrap=True, min_width=12)
    table.add_column('State', no_wrap=True)
    table.add_column('Reason', overflow='fold')
    table.add_column('By', overflow='fold')
    for h in doc['history']:
        table.add_row(_time(h['at']), styled(h['state']), h['reason'] or '',
                      h['user_id'] or '')
    return table


def _note(subtask):
    """The error of a sub-task, or what it found worth telling."""
    err, found = subtask['error'], subtask.get('result') or {}
    if err:
        return '%s: %s' % (err['type'], err['message'])
    if found.get('downtime_ms') is not None:
        return '%s MiB sent in %s ms, guest paused %s ms' % (
            found.get('transferred_mb'), found.get('total_time_ms'),
            found['downtime_ms'])
    return ''


def subtask_table(doc):
    """One row per step under its phase; at 80 columns names, states and
    times stay whole (the notes follow the table, see step_notes)."""
    table = Table(title='%s %s: steps' % (doc['type'], doc['id']),
                  box=box.SIMPLE, pad_edge=False)
    for col in ('Phase / Step', 'State', 'Started', 'Took', 'Done', 'Runs'):
        table.add_column(col, no_wrap=True,
                         min_width=12 if col == 'Started' else None)
    phase = None
    for s in doc['subtasks']:
        if s['phase'] != phase:
            phase = s['phase']
            table.add_row('[bold]%s[/]' % (phase or ''), end_section=False)
        table.add_row(
            '  ' + s['name'], styled(s['state']),
            _time(s['started']), duration(s['started'], s['finished']),
            '%3.0f%%' % (100 * (s['progress'] or 0)), str(s['attempts']))
    return table


def step_notes(doc):
    return ['%s: %s' % (s['name'], _note(s)) for s in doc['subtasks']
            if _note(s)]


def print_task(doc, console=None):
    console = console or Console()
    console.print(history_table(doc))
    console.print(subtask_table(doc))
    for note in step_notes(doc):
        console.print('  ' + escape_markup(note), soft_wrap=False)
    console.print()


def move_progress(doc):
    """0..1: the steps of the move's type done so far (a reverted move's
    bar stays where it stopped)."""
    from move_orchestrator.moves import types as move_types
    total = len(move_types.get(doc['type']).steps) or 1
    done = sum(s['progress'] or 0 for s in doc['subtasks']
               if s['state'] not in ('REVERTED', 'REVERTING'))
    return 1.0 if doc['state'] == states.COMPLETED else min(done / total, 1)


def watch_moves(get_task, task_ids, names, interval=0.2, console=None):
    """One live line per move (instance, type, route, bar, state) until
    every move has ended; their last documents."""
    console = console or Console(stderr=True)
    columns = (rich_progress.TextColumn('{task.description}'),
               rich_progress.BarColumn(bar_width=20),
               rich_progress.TaskProgressColumn(),
               rich_progress.TextColumn('{task.fields[state]}'))
    docs = {}
    with rich_progress.Progress(*columns, console=console) as bar:
        lines = {}
        while True:
            for task_id in task_ids:
                if task_id in docs and docs[task_id]['state'] in \
                        states.TERMINAL_STATES:
                    continue
                doc = docs[task_id] = get_task(task_id)
                if task_id not in lines:
                    lines[task_id] = bar.add_task(
                        '%-6s %-13s %s -> %s' % (
                            names.get(doc['instance'], doc['instance'][:8]),
                            doc['type'], doc['source'], doc['destination']),
                        total=1.0, state='')
                bar.update(lines[task_id], completed=move_progress(doc),
                           state=styled(doc['state']))
            if all(d['state'] in states.TERMINAL_STATES
                   for d in docs.values()):
                return [docs[i] for i in task_ids]
            time.sleep(interval)


def watch(get_task, task_id, interval=0.2, console=None, timeout=None):
    """Follow a task live, a progress bar per sub-task, until it ends (or
    ``timeout`` seconds passed: the document as it then is).

    The bars go to stderr: stdout stays for the result (``-f json``).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    console = console or Console(stderr=True)
    bars = {}
    columns = (rich_progress.TextColumn('{task.description}'),
               rich_progress.BarColumn(),
               rich_progress.TaskProgressColumn(),
               rich_progress.TextColumn('{task.fields[state]}'))
    with rich_progress.Progress(*columns, console=console,
                                transient=False) as bar:
        overall = bar.add_task('move', total=None, state='')
        while True:
            doc = get_task(task_id)
            bar.update(overall, description='%s %s' % (doc['type'],
                                                       doc['id'][:8]),
                       state=doc['state'])
            for s in doc['subtasks']:
                if s['name'] not in bars:
                    bars[s['name']] = bar.add_task(
                        '  %-11s %s' % (s['phase'], s['name']), total=1.0,
                        state='')
                bar.update(bars[s['name']], completed=s['progress'] or 0,
                           state=s['state'])
            if doc['state'] in states.TERMINAL_STATES:
                bar.update(overall, total=1, completed=1)
                return doc
            if deadline is not None and time.monotonic() >= deadline:
                return doc
            time.sleep(interval)


DRAIN_COLUMNS = ('ID', 'Type', 'State', 'Host', 'Reason', 'Progress',
                 'Children', 'Created', 'Finished')


def drain_view(client, doc):
    """(columns, values) of a drain for cliff's ShowOne: progress as
    "n of total completed (...)", one line per child, instances by name."""
    p = doc['progress']
    summary = '%d of %d completed' % (p['completed'], p['total'])
    others = ', '.join('%d %s' % (p[k], k.replace('_', ' ')) for k in (
        'running', 'waiting', 'failed', 'reverted', 'refused',
        'moved_elsewhere', 'not_started') if p.get(k))
    names = instance_names(client)
    children = '\n'.join(
        '%s %s %s -> %s %s%s' % (c['id'], names.get(c['instance'],
                                                    c['instance']),
                                 c['type'], c['destination'], c['state'],
                                 ' (waiting: %s)' % c['waiting']
                                 if c['waiting'] else '')
        for c in doc['children'])
    values = {'ID': doc['id'], 'Type': doc['type'], 'State': doc['state'],
              'Host': doc['host'], 'Reason': doc['reason'] or '',
              'Progress': summary + (' (%s)' % others if others else ''),
              'Children': children, 'Created': doc['created'],
              'Finished': doc['finished'] or ''}
    return DRAIN_COLUMNS, tuple(values[c] for c in DRAIN_COLUMNS)


def drain_exit_code(doc):
    """As a move's, and REFUSED when instances could not be moved."""
    if doc['state'] in states.TERMINAL_STATES and doc['progress']['refused']:
        return exitcodes.REFUSED
    return exit_code(doc)


def watch_drain(get_task, task_id, interval=0.2, console=None,
                timeout=None):
    """Follow a drain until it ends (or ``timeout`` passed): one bar, its
    children completed."""
    console = console or Console(stderr=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    with rich_progress.Progress(
            rich_progress.TextColumn('{task.description}'),
            rich_progress.BarColumn(),
            rich_progress.MofNCompleteColumn(),
            rich_progress.TextColumn('{task.fields[state]}'),
            console=console, transient=False) as bar:
        overall = bar.add_task('drain', total=None, state='')
        while True:
            doc = get_task(task_id)
            p = doc['progress']
            bar.update(overall, description='drain of %s' % doc['host'],
                       total=p['total'] or 1, completed=p['completed'],
                       state=doc['state'])
            if doc['state'] in states.TERMINAL_STATES or (
                    deadline is not None and time.monotonic() >= deadline):
                return doc
            time.sleep(interval)
