from move_orchestrator.cli import bases
from move_orchestrator import exception

HOST_FIELDS = (('Name', 'name'), ('State', 'state'), ('CPU Model', 'cpu_model'),
               ('Storage Group', 'storage_group'), ('VCPUs', 'vcpus'),
               ('RAM MB', 'ram_mb'), ('Disk GB', 'disk_gb'))
USED_FIELDS = (('Used VCPUs', 'vcpus'), ('Used RAM MB', 'ram_mb'),
               ('Used Disk GB', 'disk_gb'))
INSTANCE_FIELDS = (('ID', 'uuid'), ('Name', 'name'), ('Host', 'host'),
                   ('Flavor', 'flavor'), ('Power State', 'power_state'),
                   ('VM State', 'vm_state'), ('Task', 'move_id'))


def host_row(host):
    return tuple(host[k] for _, k in HOST_FIELDS) + tuple(
        host['used'][k] for _, k in USED_FIELDS)


def host_columns():
    return tuple(c for c, _ in HOST_FIELDS + USED_FIELDS)


def find_host(client, name):
    return client.get_host(client.context, name)


def find_instance(client, name_or_uuid):
    for inst in client.list_instances(client.context):
        if name_or_uuid in (inst['uuid'], inst['name']):
            return inst
    raise exception.InstanceNotFound(instance=name_or_uuid)


class ListHosts(bases.Lister):
    """List hosts with their state and what is allocated on them."""

    def take_action(self, args):
        client = self.app.client
        return host_columns(), [host_row(h) for h in
                                client.list_hosts(client.context)]


class ShowHost(bases.ShowOne):
    """Show a host: its state, capacity, usage and instances."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host')
        return parser

    def take_action(self, args):
        client = self.app.client
        host = client.get_host(client.context, args.host)
        names = sorted(i['name'] for i in
                       client.list_instances(client.context, host=args.host))
        return (host_columns() + ('Instances',),
                host_row(host) + (', '.join(names),))


class SetHost(bases.ShowOne):
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
        client.set_host_state(client.context, args.host, args.state)
        return host_columns(), host_row(find_host(client, args.host))


class ListInstances(bases.Lister):
    """List instances and the task moving each, if any."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--host')
        return parser

    def take_action(self, args):
        client = self.app.client
        if args.host:
            find_host(client, args.host)
        return tuple(c for c, _ in INSTANCE_FIELDS), [
            tuple(i[k] for _, k in INSTANCE_FIELDS) for i in
            client.list_instances(client.context, host=args.host)]


class ShowInstance(bases.ShowOne):
    """Show an instance: where it runs, its flavor and the task moving it."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance', help='instance name or uuid')
        return parser

    def take_action(self, args):
        inst = find_instance(self.app.client, args.instance)
        return (tuple(c for c, _ in INSTANCE_FIELDS),
                tuple(inst[k] for _, k in INSTANCE_FIELDS))


class ListFlavors(bases.Lister):
    """List flavors."""

    def take_action(self, args):
        client = self.app.client
        fields = (('Name', 'name'), ('VCPUs', 'vcpus'), ('RAM MB', 'ram_mb'),
                  ('Disk GB', 'disk_gb'))
        return tuple(c for c, _ in fields), [
            tuple(f[k] for _, k in fields) for f in
            client.list_flavors(client.context)]
