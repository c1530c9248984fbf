"""``move-orchestrator-compute``: the compute agent of one host.

Registers ``[DEFAULT] host`` with the inventory (``[database] connection``),
then serves its hypervisor's operations (``[compute] agent_driver``) on topic
``move_orchestrator.compute.<host>`` of ``[DEFAULT] transport_url`` until
SIGTERM or SIGINT. The VMs outlive the agent (QEMU runs daemonized): a
restarted agent serves them again.
"""

import signal
import sys
import threading

from oslo_log import log as logging

from move_orchestrator.cmd import start
from move_orchestrator.compute import agent as agent_mod
from move_orchestrator.conf import CONF

LOG = logging.getLogger('move_orchestrator.cmd.compute')


def main(argv=None):
    code = start.configure(argv, 'move-orchestrator-compute')
    if code is not None:
        return code
    if not CONF.transport_url:
        LOG.error('[DEFAULT] transport_url is not set: the agent serves over RPC')
        return start.EXIT_CONFIG
    agent = agent_mod.ComputeAgent(CONF)
    agent.register()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *a: stop.set())
    agent.start()
    while not stop.wait(1.0):
        pass
    LOG.info('Compute agent of %s stopping', agent.host)
    agent.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
