"""Turning task documents into what an operator reads."""

import datetime
import time

from rich import box
from rich.console import Console
from rich import progress as rich_progress
from rich.table import Table

from move_orchestrator import states

STATE_STYLE = {'completed': 'green', 'reverted': 'yellow', 'failed': 'red',
               'SUCCESS': 'green', 'REVERTED': 'yellow', 'FAILURE': 'red',
               'REVERT_FAILURE': 'red'}

TASK_COLUMNS = ('id', 'instance', 'type', 'state', 'source', 'destination',
                'old_flavor', 'new_flavor', 'point_of_no_return', 'reason',
                'failed_step', 'waiting', 'created', 'finished')


def styled(state):
    style = STATE_STYLE.get(state)
    return '[%s]%s[/]' % (style, state) if style else state


def task_row(doc):
    flat = dict(doc, old_flavor=doc['flavors']['old'],
                new_flavor=doc['flavors']['new'])
    return tuple(flat[c] for c in TASK_COLUMNS)


def _parse(ts):
    return datetime.datetime.fromisoformat(ts) if ts else None


def duration(start, end):
    if not start or not end:
        return ''
    return '%.0f ms' % ((_parse(end) - _parse(start)).total_seconds() * 1000)


def history_table(doc):
    table = Table(title='%s %s: history' % (doc['type'], doc['id']),
                  box=box.SIMPLE)
    for col in ('at', 'state', 'reason', 'by'):
        table.add_column(col)
    for h in doc['history']:
        table.add_row(h['at'], styled(h['state']), h['reason'] or '',
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
    table = Table(title='%s %s: sub-tasks' % (doc['type'], doc['id']),
                  box=box.SIMPLE)
    for col in ('phase', 'sub-task', 'state', 'started', 'took', 'progress',
                'runs', 'note'):
        table.add_column(col)
    for s in doc['subtasks']:
        table.add_row(
            s['phase'] or '', s['name'],
            styled(s['state']),
            (s['started'] or '')[11:23], duration(s['started'], s['finished']),
            '%3.0f%%' % (100 * (s['progress'] or 0)), str(s['attempts']),
            _note(s))
    return table


def print_task(doc, console=None):
    console = console or Console()
    console.print(history_table(doc))
    console.print(subtask_table(doc))


def watch(get_task, task_id, interval=0.2, console=None):
    """Follow a task live, a progress bar per sub-task, until it ends.

    The bars go to stderr: stdout stays for the result (``-f json``).
    """
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
            time.sleep(interval)


DRAIN_COLUMNS = ('id', 'type', 'state', 'host', 'reason', 'progress',
                 'children', 'created', 'finished')


def drain_view(doc):
    """(columns, values) of a drain for cliff's ShowOne: progress as
    "n of total completed (...)", one line per child."""
    p = doc['progress']
    summary = '%d of %d completed' % (p['completed'], p['total'])
    others = ', '.join('%d %s' % (p[k], k.replace('_', ' ')) for k in (
        'running', 'waiting', 'failed', 'reverted', 'refused',
        'not_started') if p[k])
    children = '\n'.join(
        '%s %s %s -> %s %s%s' % (c['id'], c['instance'], c['type'],
                                 c['destination'], c['state'],
                                 ' (waiting: %s)' % c['waiting']
                                 if c['waiting'] else '')
        for c in doc['children'])
    row = dict(doc, progress=summary + (' (%s)' % others if others else ''),
               children=children)
    return DRAIN_COLUMNS, tuple(row[c] for c in DRAIN_COLUMNS)


def watch_drain(get_task, task_id, interval=0.2, console=None):
    """Follow a drain until it ends: one bar, its children completed."""
    console = console or Console(stderr=True)
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
            if doc['state'] in states.TERMINAL_STATES:
                return doc
            time.sleep(interval)
