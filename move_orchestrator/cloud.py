"""Seeding a cloud: hosts, flavors and booted instances.

Used by the demo, the tests and operators trying things out. Booting writes
the inventory and makes the driver create the instance's disk, domain and
port binding, so inventory and hypervisor agree from the start.
"""

import uuid as uuid_mod

from move_orchestrator import exception
from move_orchestrator.moves import request as move_request

DEMO_FLAVORS = (('m1.tiny', 1, 512, 1), ('m1.small', 1, 2048, 20),
                ('m1.medium', 2, 4096, 40), ('m1.large', 4, 8192, 80),
                # m1.small's disk with twice its vCPUs and RAM: what a
                # running m1.small grows to in place (live-resize).
                ('m1.wide', 2, 4096, 20))


def boot_instance(services, name, host, flavor, image='cirros-0.6.2',
                  power_state='running', uuid=None, project_id=None,
                  user_id=None):
    inventory, driver = services.inventory, services.driver
    uuid = uuid or str(uuid_mod.uuid4())
    instance = inventory.create_instance(
        uuid, name, host, flavor, image, power_state=power_state,
        project_id=project_id, user_id=user_id)
    spec = move_request.spec(instance, inventory.get_flavor(flavor))
    driver.create_disk(spec, host)
    driver.spawn(spec, host, power_on=power_state == 'running')
    services.network.bind_ports(uuid, host)
    services.network.activate_binding(uuid, host)
    return instance


def create_demo_cloud(services, hosts=4, instances=6):
    """host1..hostN (one CPU model, one storage group each), flavors, VMs."""
    inventory = services.inventory
    for name, vcpus, ram, disk in DEMO_FLAVORS:
        inventory.create_flavor(name, vcpus, ram, disk)
    for i in range(1, hosts + 1):
        inventory.create_host('host%d' % i, vcpus=16, ram_mb=32768,
                              disk_gb=500, cpu_model='Cascadelake',
                              storage_group='local-host%d' % i)
    booted = []
    for i in range(1, instances + 1):
        booted.append(boot_instance(
            services, 'vm%d' % i, 'host%d' % (1 + (i - 1) % 2),
            'm1.small' if i % 3 else 'm1.tiny',
            power_state='running' if i % 2 else 'shutdown',
            project_id='demo', user_id='demo'))
    return booted


# The inventory file of ``move-orchestrator-manage inventory load``
# (doc/source/service.rst shows one).
_NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255,
         'pattern': r'^[^\x00-\x1f\x7f]+$'}
_COUNT = {'type': 'integer', 'minimum': 1, 'maximum': 2 ** 31 - 1}
INVENTORY_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'hosts': {'type': 'array', 'items': {
            'type': 'object', 'additionalProperties': False,
            'required': ['name', 'vcpus', 'ram_mb', 'disk_gb'],
            'properties': {
                'name': _NAME, 'vcpus': _COUNT, 'ram_mb': _COUNT,
                'disk_gb': _COUNT, 'cpu_model': _NAME,
                'storage_group': _NAME,
                'state': {'enum': ['up', 'down', 'disabled']}}}},
        'flavors': {'type': 'array', 'items': {
            'type': 'object', 'additionalProperties': False,
            'required': ['name', 'vcpus', 'ram_mb', 'disk_gb'],
            'properties': {'name': _NAME, 'vcpus': _COUNT, 'ram_mb': _COUNT,
                           'disk_gb': _COUNT}}},
        'instances': {'type': 'array', 'items': {
            'type': 'object', 'additionalProperties': False,
            'required': ['name', 'host', 'flavor'],
            'properties': {
                'name': _NAME, 'host': _NAME, 'flavor': _NAME,
                'uuid': {'type': 'string', 'format': 'uuid'},
                'image': _NAME, 'project_id': _NAME, 'user_id': _NAME,
                'power_state': {'enum': ['running', 'shutdown']}}}},
    },
}


def check_inventory(document):
    """The document against INVENTORY_SCHEMA: InvalidParameter naming the
    first bad entry."""
    import jsonschema
    validator = jsonschema.Draft7Validator(INVENTORY_SCHEMA)
    error = next(iter(sorted(validator.iter_errors(document),
                             key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = '/'.join(str(p) for p in error.absolute_path) or 'the file'
        raise exception.InvalidParameter(name=where, reason=error.message)


def load_inventory(services, document):
    """Create the hosts, flavors and instances of ``document`` that are not
    there yet (by name), checking all of it first. Returns {kind: (created
    names, names already present)}."""
    check_inventory(document)
    inventory = services.inventory
    existing = {
        'hosts': {h['name'] for h in inventory.list_hosts()},
        'flavors': {f['name'] for f in inventory.list_flavors()},
        'instances': {i['name'] for i in inventory.list_instances()}}
    hosts = existing['hosts'] | {h['name'] for h in document.get('hosts', ())}
    flavors = existing['flavors'] | {
        f['name'] for f in document.get('flavors', ())}
    for inst in document.get('instances', ()):
        if inst['host'] not in hosts:
            raise exception.HostNotFound(host=inst['host'])
        if inst['flavor'] not in flavors:
            raise exception.FlavorNotFound(flavor=inst['flavor'])
    report = {}
    for kind in ('flavors', 'hosts', 'instances'):
        created, present = [], []
        for entry in document.get(kind, ()):
            if entry['name'] in existing[kind]:
                present.append(entry['name'])
                continue
            if kind == 'flavors':
                inventory.create_flavor(entry['name'], entry['vcpus'],
                                        entry['ram_mb'], entry['disk_gb'])
            elif kind == 'hosts':
                inventory.create_host(
                    entry['name'], entry['vcpus'], entry['ram_mb'],
                    entry['disk_gb'],
                    cpu_model=entry.get('cpu_model', 'x86_64'),
                    storage_group=entry.get('storage_group'),
                    state=entry.get('state', 'up'))
            else:
                boot_instance(
                    services, entry['name'], entry['host'], entry['flavor'],
                    image=entry.get('image', 'cirros-0.6.2'),
                    power_state=entry.get('power_state', 'running'),
                    uuid=entry.get('uuid'),
                    project_id=entry.get('project_id'),
                    user_id=entry.get('user_id'))
            existing[kind].add(entry['name'])
            created.append(entry['name'])
        report[kind] = (created, present)
    return report
