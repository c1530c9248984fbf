"""Policy defaults in code, listed for oslo.policy's tools
(``oslo.policy.policies`` entry point, namespace ``move_orchestrator``)."""

import itertools

from move_orchestrator.policies import base
from move_orchestrator.policies import inventory
from move_orchestrator.policies import moves
from move_orchestrator.policies import tasks


def list_rules():
    return list(itertools.chain(base.list_rules(), moves.list_rules(),
                                tasks.list_rules(), inventory.list_rules()))
