from cliff import lister
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


class Drain(lister.Lister):
    """Disable a host and move every instance off it."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host')
        live = parser.add_mutually_exclusive_group()
        live.add_argument('--live', dest='live', action='store_true',
                          default=None)
        live.add_argument('--cold', dest='live', action='store_false')
        return parser

    def take_action(self, args):
        client = self.app.client
        result = client.drain_host(client.context, args.host, live=args.live)
        docs = result['tasks']
        if client.embedded:
            docs = [client.wait_task(client.context, d['id']) for d in docs]
        rows = [(d['instance'], d['id'], d['type'], d['destination'],
                 d['state'], d['reason'] or '') for d in docs]
        rows += [(r['instance'], '', '', '', 'refused',
                  r['error']['message']) for r in result['refused']]
        return ('instance', 'task', 'type', 'destination', 'state',
                'reason'), rows
