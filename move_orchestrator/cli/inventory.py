from cliff import lister
from cliff import show


class ListHosts(lister.Lister):
    """List hosts with their state and what is allocated on them."""

    def take_action(self, args):
        client = self.app.client
        columns = ('name', 'state', 'cpu_model', 'storage_group', 'vcpus',
                   'ram_mb', 'disk_gb', 'used_vcpus', 'used_ram_mb',
                   'used_disk_gb')
        rows = []
        for h in client.list_hosts(client.context):
            used = h['used']
            rows.append(tuple(h[c] for c in columns[:7]) + (
                used['vcpus'], used['ram_mb'], used['disk_gb']))
        return columns, rows


class ShowHost(show.ShowOne):
    """Show a host: its state, capacity and usage."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host')
        return parser

    def take_action(self, args):
        client = self.app.client
        host = client.get_host(client.context, args.host)
        used = host.pop('used')
        host.update(('used_%s' % k, v) for k, v in used.items())
        return tuple(host), tuple(host.values())


class SetHost(show.ShowOne):
    """Set a host up, down (its instances can be evacuated) or disabled
    (drained; a drained host that goes down comes back disabled)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host')
        parser.add_argument('--state', required=True,
                            choices=('up', 'down', 'disabled'))
        return parser

    def take_action(self, args):
        client = self.app.client
        host = client.set_host_state(client.context, args.host, args.state)
        return tuple(host), tuple(host.values())


class ListInstances(lister.Lister):
    """List instances and the task moving each, if any."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--host')
        return parser

    def take_action(self, args):
        client = self.app.client
        columns = ('uuid', 'name', 'host', 'flavor', 'power_state',
                   'vm_state', 'move_id')
        return columns, [tuple(i[c] for c in columns) for i in
                         client.list_instances(client.context,
                                               host=args.host)]


class ListFlavors(lister.Lister):
    """List flavors."""

    def take_action(self, args):
        client = self.app.client
        columns = ('name', 'vcpus', 'ram_mb', 'disk_gb')
        return columns, [tuple(f[c] for c in columns) for f in
                         client.list_flavors(client.context)]
