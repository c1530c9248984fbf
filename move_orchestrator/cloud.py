"""Seeding a cloud: hosts, flavors and booted instances.

Used by the demo, the tests and operators trying things out. Booting writes
the inventory and makes the driver create the instance's disk, domain and
port binding, so inventory and hypervisor agree from the start.
"""

import uuid as uuid_mod

from move_orchestrator.moves import request as move_request

DEMO_FLAVORS = (('m1.tiny', 1, 512, 1), ('m1.small', 1, 2048, 20),
                ('m1.medium', 2, 4096, 40), ('m1.large', 4, 8192, 80))


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
    driver.bind_ports(uuid, host)
    driver.activate_binding(uuid, host)
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
