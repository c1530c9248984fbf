from move_orchestrator.cli import bases
from move_orchestrator.cli import moves
from move_orchestrator.cli import render
from move_orchestrator import exception
from move_orchestrator.moves import types as move_types
from move_orchestrator import states

MAX_LIMIT = 1000
# task events: column -> key of the event document
EVENT_COLUMNS = {'ID': 'id', 'At': 'at', 'Kind': 'kind', 'Name': 'name',
                 'Phase': 'phase', 'State': 'state', 'Progress': 'progress'}


def all_states():
    """Every state of every move type, in execution order, then a
    drain's own."""
    seen = []
    for name in sorted(move_types.MOVE_TYPES):
        for state in move_types.get(name).states:
            if state not in seen:
                seen.append(state)
    return seen + [s for s in (states.DRAINING, states.PAUSED)
                   if s not in seen]


def limit(text):
    try:
        value = int(text)
    except ValueError:
        raise render.argparse.ArgumentTypeError(
            'not a whole number: %.20r' % text)
    if not 1 <= value <= MAX_LIMIT:
        raise render.argparse.ArgumentTypeError(
            'must be from 1 to %d: %d' % (MAX_LIMIT, value))
    return value


class ShowTask(bases.ShowOne):
    """Show a task: its state, history and steps."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = client.get_task(client.context, args.task)
        if doc['type'] == 'drain':
            return render.drain_view(client, doc)
        if args.formatter == 'table':
            render.print_task(doc)
        return render.task_view(client, doc, detail=True)


class ListTasks(bases.Lister):
    """List tasks, newest first."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--instance', help='instance name or uuid')
        parser.add_argument('--host',
                            help='tasks moving from or to this host')
        parser.add_argument('--type',
                            choices=sorted(move_types.MOVE_TYPES) + ['drain'])
        parser.add_argument('--state', choices=all_states(), metavar='STATE',
                            help='one of: %s' % ', '.join(all_states()))
        parser.add_argument('--limit', type=limit,
                            help='at most this many (1-%d)' % MAX_LIMIT)
        parser.add_argument('--marker', help='last task id of the page before')
        return parser

    def take_action(self, args):
        client = self.app.client
        if args.host and args.host not in {
                h['name'] for h in client.list_hosts(client.context)}:
            raise exception.HostNotFound(host=args.host)
        # Filtered in the query, so that --limit pages are full.
        docs = client.list_tasks(client.context, instance=args.instance,
                                 state=args.state, limit=args.limit,
                                 marker=args.marker, type=args.type,
                                 host=args.host)
        docs = render.with_names(client, docs)
        return render.LIST_COLUMNS, [render.task_row(d, render.LIST_COLUMNS)
                                     for d in docs]


class _TaskAction(moves._Waits, bases.ShowOne):
    action = None

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        self.add_wait_arguments(parser)
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = getattr(client, self.action)(client.context, args.task)
        drain = doc['type'] == 'drain'
        if args.wait:
            doc = (render.watch_drain if drain else render.watch)(
                lambda i: client.get_task(client.context, i), doc['id'],
                timeout=args.timeout)
            self.exit_code = (render.drain_exit_code if drain
                              else render.exit_code)(doc)
        elif client.embedded and client.conductor.owns_database and \
                not (drain and doc['state'] == 'paused'):
            # This process is the conductor: see the action through.
            doc = client.wait_task(client.context, doc['id'])
        if drain:
            return render.drain_view(client, doc)
        return render.task_view(client, doc)


class AbortTask(_TaskAction):
    """Abort a running move: it reverts (refused after its point of no
    return)."""
    action = 'abort_task'


class ResumeTask(_TaskAction):
    """Resume a failed move from the step that failed."""
    action = 'resume_task'


class RevertTask(_TaskAction):
    """Revert a failed move that had not passed its point of no return."""
    action = 'revert_task'


class PauseTask(_TaskAction):
    """Pause a drain: no new child moves start until it is resumed."""
    action = 'pause_task'


class ForceCompleteTask(_TaskAction):
    """Finish a live migration that does not converge (post-copy)."""
    action = 'force_complete'


class ListTaskEvents(bases.Lister):
    """List a task's events (state changes, steps, actions) in order."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        parser.add_argument('--since', type=int,
                            help='only events after this event id')
        parser.add_argument('--wait', type=float,
                            help='seconds to wait for the first new event')
        return parser

    def take_action(self, args):
        client = self.app.client
        events = client.list_task_events(client.context, args.task,
                                         since=args.since, wait=args.wait)
        keys = EVENT_COLUMNS.values()
        return tuple(EVENT_COLUMNS), [tuple(e[k] for k in keys)
                                      for e in events]


class WatchTask(moves._Waits, bases.ShowOne):
    """Follow a running move live, a progress bar per step; exits as
    ``move --wait`` does."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        parser.add_argument('--interval', type=render.positive_float,
                            default=0.2)
        parser.add_argument('--timeout', type=render.positive_float,
                            metavar='SECONDS')
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = render.watch(lambda i: client.get_task(client.context, i),
                           args.task, interval=args.interval,
                           timeout=args.timeout)
        self.exit_code = render.exit_code(doc)
        return render.task_view(client, doc)
