"""``move-orchestrator demo``: a small simulated cloud and one move of every
type, one of them failing and reverting, shown live (a line per move), then
a short summary and an audit. The cloud stays, for ``move``, ``task show``
and the rest to go on with.
"""

import logging as std_logging
import os

from rich.console import Console
from rich.table import Table
import sqlalchemy as sa

from move_orchestrator.cli import bases
from move_orchestrator import cloud
from move_orchestrator.cli import demo_libvirt
from move_orchestrator.cli import demo_qemu
from move_orchestrator.cli import render
from move_orchestrator.conf import CONF
from move_orchestrator import exception

# The failing move: a live migration to host4 whose start fails there.
DEMO_FAULT = 'start_migration@host4=fail'


def reset_database(url):
    """Start afresh: a SQLite file is removed; other databases must be
    empty, so that the demo never deletes anybody's data."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith('sqlite'):
        if parsed.database and parsed.database != ':memory:':
            for suffix in ('', '-wal', '-shm'):
                if os.path.exists(parsed.database + suffix):
                    os.remove(parsed.database + suffix)
        return
    engine = sa.create_engine(url)
    try:
        if sa.inspect(engine).get_table_names():
            raise exception.Invalid(
                'the demo needs an empty database, and %s has tables'
                % parsed.render_as_string(hide_password=True))
    finally:
        engine.dispose()


class Demo(bases.Command):
    """Build a simulated cloud and move instances in every way."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--delay', type=float, default=0.0,
                            help='seconds added to every driver operation')
        parser.add_argument('--driver', choices=('fake', 'qemu', 'libvirt'),
                            default='fake',
                            help='qemu: real QEMU VMs (see README: Real VMs with '
                                 'QEMU); libvirt: real libvirt domains, on '
                                 'libvirtd daemons of its own unless [libvirt] '
                                 'host_uris names three')
        parser.add_argument('--keep', action='store_true',
                            help='with --driver qemu: leave the VMs running')
        return parser

    def take_action(self, args):
        if not self.app.client.embedded:
            # The demo builds its cloud through the driver in this process
            # and resets the database: not something to do to a service.
            raise exception.Invalid(
                'the demo runs embedded only (no transport_url): for a '
                'service, load an inventory with "move-orchestrator-manage '
                'inventory load FILE" and use "move"')
        console = Console(file=self.app.stdout,
                          width=None if self.app.stdout.isatty() else 160)
        if args.driver == 'libvirt':
            return self.libvirt_demo(console, args)
        if args.driver == 'qemu':
            demo_qemu.configure(CONF)
        if self.app.client.embedded:
            reset_database(CONF.database.connection)
        if args.driver == 'qemu':
            docs = demo_qemu.run_moves(self.app.client, console)
        else:
            docs = self.fake_moves(args, console)
        return self.report(console, docs, args)

    def libvirt_demo(self, console, args):
        hosts = demo_libvirt.configure(CONF)    # may start daemons
        code, client = 1, None
        try:
            reset_database(CONF.database.connection)
            client = self.app.client
            docs = demo_libvirt.run_moves(client, console, hosts)
            code = self.report(console, docs, args)
        finally:
            left = demo_libvirt.finish(client, console, hosts)
        return code or (1 if left else 0)

    def fake_moves(self, args, console):
        CONF.set_override('faults', [DEMO_FAULT], group='fake_driver')
        CONF.set_override('operation_delay', args.delay, group='fake_driver')
        # The injected fault is the demo's own: the live view shows it.
        std_logging.getLogger('move_orchestrator.faults').setLevel(
            std_logging.ERROR)
        client = self.app.client
        ctxt = client.context
        booted = cloud.create_demo_cloud(client.services)
        self.names = {i['uuid']: i['name'] for i in booted}
        console.print('[bold]A cloud of 4 hosts and 6 instances[/] in %s'
                      % sa.engine.make_url(CONF.database.connection)
                      .render_as_string(hide_password=True))
        # Four at once: the conductor runs them concurrently.
        first = [client.move_instance(ctxt, 'vm1', destination='host3'),
                 client.move_instance(ctxt, 'vm2', destination='host3'),
                 client.move_instance(ctxt, 'vm3', destination='host4',
                                      flavor='m1.medium'),
                 client.move_instance(ctxt, 'vm5', destination='host4')]
        docs = self.follow(console, [d['id'] for d in first])
        console.print('host2 goes down: its instances are evacuated')
        client.set_host_state(ctxt, 'host2', 'down')
        evac = client.move_instance(ctxt, 'vm4', destination='host3')
        docs += self.follow(console, [evac['id']])
        client.set_host_state(ctxt, 'host2', 'up')  # repaired
        return docs

    def follow(self, console, task_ids):
        client = self.app.client
        return render.watch_moves(
            lambda i: client.get_task(client.context, i), task_ids,
            self.names, console=console)

    def report(self, console, docs, args):
        client = self.app.client
        ctxt = client.context
        names = getattr(self, 'names', None) or render.instance_names(client)
        summary = Table(title='moves', box=render.box.SIMPLE)
        for col in ('Instance', 'Type', 'Route', 'State', 'Took', 'Task'):
            summary.add_column(col, no_wrap=True)
        for doc in docs:
            summary.add_row(names.get(doc['instance'], doc['instance']),
                            doc['type'],
                            '%s -> %s' % (doc['source'], doc['destination']),
                            render.styled(doc['state']),
                            render.duration(doc['created'], doc['finished']),
                            doc['id'])
        console.print(summary)
        for doc in docs:
            if doc['reason']:
                console.print('%s %s: %s' % (
                    names.get(doc['instance'], doc['instance']),
                    doc['state'], render.escape_markup(doc['reason'])))
        problems = client.audit(ctxt)
        for p in problems:
            console.print('[red]audit: %s %s %s[/]' % (
                p['instance'], p['move'], p['problem']))
        console.print('audit: %s' % ('%d violations' % len(problems)
                                     if problems else 'no violations'))
        if args.driver == 'qemu':
            demo_qemu.finish(client, console, args.keep)
        elif args.driver == 'fake':
            console.print('Go on with: move-orchestrator instance list; '
                          'move-orchestrator move vm6 --wait; '
                          'move-orchestrator task show %s' % docs[-1]['id'])
        states = sorted(d['state'] for d in docs)
        expected = ['completed'] * 4 + ['reverted']
        return 0 if not problems and states == expected else 1
