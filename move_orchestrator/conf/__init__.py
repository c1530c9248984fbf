"""Configuration options, one module per group, all registered on CONF."""

from oslo_config import cfg

from move_orchestrator.conf import api
from move_orchestrator.conf import compute
from move_orchestrator.conf import conductor
from move_orchestrator.conf import database
from move_orchestrator.conf import fake_driver
from move_orchestrator.conf import fault_injection
from move_orchestrator.conf import jobboard
from move_orchestrator.conf import libvirt
from move_orchestrator.conf import limits
from move_orchestrator.conf import live_migration
from move_orchestrator.conf import move
from move_orchestrator.conf import network
from move_orchestrator.conf import notifications
from move_orchestrator.conf import qemu
from move_orchestrator.conf import scheduler
from move_orchestrator.conf import service
from move_orchestrator.conf import upgrade_levels

CONF = cfg.CONF

MODULES = (api, compute, conductor, database, fake_driver, fault_injection,
           jobboard, libvirt, limits, live_migration, move, network, notifications, qemu,
           scheduler, service, upgrade_levels)


def register_all(conf=CONF):
    for module in MODULES:
        module.register_opts(conf)


register_all(CONF)
