"""``move`` and ``drain``.

Without ``--wait``, ``move`` returns once the move is accepted, in both
modes. Embedded, the conductor that runs it is then a detached
``move-orchestrator conductor --until-idle`` process of its own (started only
if no conductor runs this database's moves), which exits once every move is
finished: the CLI returns, the move goes on.
"""

import os
import subprocess
import sys

from move_orchestrator.cli import bases
from move_orchestrator.cli import exitcodes
from move_orchestrator.cli import render


def spawn_conductor(config_args):
    """A detached embedded conductor for this database (it exits at once if
    another process runs its moves, which then takes the new ones)."""
    subprocess.Popen(
        [sys.executable, '-m', 'move_orchestrator.cli.main'] +
        list(config_args) + ['conductor', '--until-idle'],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
        cwd=os.getcwd(), close_fds=True)


class _Waits:
    """``--wait`` and ``--timeout`` and the exit code of the outcome."""

    exit_code = exitcodes.OK

    def add_wait_arguments(self, parser):
        parser.add_argument('--wait', action='store_true',
                            help='follow the move until it ends; exit 0 '
                                 'only if it completed (3 reverted, 4 '
                                 'failed, 5 timed out)')
        parser.add_argument('--timeout', type=render.positive_float,
                            metavar='SECONDS',
                            help='with --wait: give up waiting after '
                                 'SECONDS (exit 5; the move goes on)')

    def run(self, parsed_args):
        rc = super().run(parsed_args)
        return rc or self.exit_code

    def follow(self, client, doc, args):
        doc = render.watch(lambda i: client.get_task(client.context, i),
                           doc['id'], timeout=args.timeout)
        self.exit_code = render.exit_code(doc)
        return doc


class Move(_Waits, bases.ShowOne):
    """Move an instance; the type is derived from the request."""

    #: ``openstack move server`` spells it ``--host``, as openstackclient
    destination_flag = '--to'

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance', help='instance name or uuid')
        parser.add_argument(self.destination_flag, dest='destination',
                            metavar='HOST',
                            help='destination host (default: scheduler)')
        parser.add_argument(
            '--flavor', help='new flavor: a live-resize (vCPUs and RAM '
            'hot-plugged in place) when the running instance only grows, '
            'its disk stays and its host has room; a cold resize otherwise '
            '(with --live: refused, with the reason)')
        live = parser.add_mutually_exclusive_group()
        live.add_argument('--live', dest='live', action='store_true',
                          default=None, help='live-migrate (must be active); '
                          'with --flavor: live-resize or nothing')
        live.add_argument('--cold', dest='live', action='store_false',
                          help='cold-migrate even an active instance; with '
                          '--flavor: a cold resize')
        parser.add_argument('--request-id', help='idempotency key')
        self.add_wait_arguments(parser)
        return parser

    def take_action(self, args):
        client = self.app.client
        request = dict(destination=args.destination, flavor=args.flavor,
                       live=args.live, request_id=args.request_id)
        if client.embedded and not args.wait:
            doc = client.accept_move(client.context, args.instance,
                                     **request)
            spawn_conductor(self.app.config_args)
        else:
            doc = client.move_instance(client.context, args.instance,
                                       **request)
        if args.wait:
            doc = self.follow(client, doc, args)
        return render.task_view(client, doc)


class Drain(bases.ShowOne):
    """Disable a host and move every instance off it, as one drain task
    (evacuations if the host is down); with --wait (always, embedded) exit
    as move --wait does, 6 if some instance could not be moved."""

    exit_code = exitcodes.OK

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

    def run(self, parsed_args):
        return super().run(parsed_args) or self.exit_code

    def take_action(self, args):
        client = self.app.client
        doc = client.drain_host(client.context, args.host, live=args.live)
        if args.wait or client.embedded:
            # Embedded, the drain's moves run in this process: see it
            # through, as "move --wait" does.
            doc = render.watch_drain(
                lambda i: client.get_task(client.context, i), doc['id'])
            self.exit_code = render.drain_exit_code(doc)
        return render.drain_view(client, doc)
