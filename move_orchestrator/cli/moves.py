from cliff import show

from move_orchestrator.cli import render


class Move(show.ShowOne):
    """Move an instance; the type is derived from the request."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance', help='instance name or uuid')
        parser.add_argument('--to', dest='destination', metavar='HOST',
                            help='destination host (default: scheduler)')
        parser.add_argument('--flavor', help='new flavor: a resize')
        live = parser.add_mutually_exclusive_group()
        live.add_argument('--live', dest='live', action='store_true',
                          default=None, help='live-migrate (must be active)')
        live.add_argument('--cold', dest='live', action='store_false',
                          help='cold-migrate even an active instance')
        parser.add_argument('--request-id', help='idempotency key')
        parser.add_argument('--wait', action='store_true',
                            help='follow the move until it ends')
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = client.move_instance(
            client.context, args.instance, destination=args.destination,
            flavor=args.flavor, live=args.live, request_id=args.request_id)
        if args.wait:
            doc = render.watch(lambda i: client.get_task(client.context, i),
                               doc['id'])
        elif client.embedded:
            # The embedded conductor lives in this process: finish the move
            # before exiting (a killed one is resumed by the next conductor).
            doc = client.wait_task(client.context, doc['id'])
        return render.TASK_COLUMNS, render.task_row(doc)


class Drain(show.ShowOne):
    """Disable a host and move every instance off it, as one drain task
    (evacuations if the host is down)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host')
        live = parser.add_mutually_exclusive_group()
        live.add_argument('--live', dest='live', action='store_true',
                          default=None,
                          help='live-migrate every running instance')
        live.add_argument('--cold', dest='live', action='store_false',
                          help='cold-migrate every instance')
        parser.add_argument('--wait', action='store_true',
                            help='follow the drain until it ends')
        return parser

    def take_action(self, args):
        client = self.app.client
        doc = client.drain_host(client.context, args.host, live=args.live)
        if args.wait or client.embedded:
            # Embedded, the drain's moves run in this process: see it
            # through, as "move" does.
            doc = render.watch_drain(
                lambda i: client.get_task(client.context, i), doc['id'])
        return render.drain_view(doc)
