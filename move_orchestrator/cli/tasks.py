from cliff import lister
from cliff import show

from move_orchestrator.cli import render


class ShowTask(show.ShowOne):
    """Show a task: its state, history and sub-tasks."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = client.get_task(client.context, args.task)
        if doc['type'] == 'drain' and args.formatter == 'table':
            return render.drain_view(doc)
        if args.formatter == 'table':
            render.print_task(doc)
            return render.TASK_COLUMNS, render.task_row(doc)
        return tuple(doc), tuple(doc.values())


class ListTasks(lister.Lister):
    """List tasks, newest first."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--instance', help='instance name or uuid')
        parser.add_argument('--state', help='e.g. completed, failed')
        parser.add_argument('--limit', type=int)
        parser.add_argument('--marker', help='last task id of the page before')
        return parser

    def take_action(self, args):
        client = self.app.client
        docs = client.list_tasks(client.context, instance=args.instance,
                                 state=args.state, limit=args.limit,
                                 marker=args.marker)
        columns = ('id', 'instance', 'type', 'state', 'source', 'destination',
                   'created', 'finished')
        return columns, [tuple(d[c] for c in columns) for d in docs]


class _TaskAction(show.ShowOne):
    action = None

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        parser.add_argument('--wait', action='store_true',
                            help='follow the task until it ends')
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = getattr(client, self.action)(client.context, args.task)
        drain = doc['type'] == 'drain'
        if args.wait:
            doc = (render.watch_drain if drain else render.watch)(
                lambda i: client.get_task(client.context, i), doc['id'])
        elif client.embedded and client.conductor.owns_database and \
                not (drain and doc['state'] == 'paused'):
            # This process is the conductor: see the action through.
            doc = client.wait_task(client.context, doc['id'])
        if drain:
            return render.drain_view(doc)
        return render.TASK_COLUMNS, render.task_row(doc)


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
    """Force a live migration that does not converge to complete."""
    action = 'force_complete'


class ListTaskEvents(lister.Lister):
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
        columns = ('id', 'at', 'kind', 'name', 'phase', 'state', 'progress')
        return columns, [tuple(e[c] for c in columns) for e in events]


class WatchTask(show.ShowOne):
    """Follow a running move live, a progress bar per sub-task."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('task', help='task id')
        parser.add_argument('--interval', type=float, default=0.2)
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = render.watch(lambda i: client.get_task(client.context, i),
                           args.task, interval=args.interval)
        return render.TASK_COLUMNS, render.task_row(doc)
