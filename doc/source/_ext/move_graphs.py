"""Writes every move type's state machine and flow as Graphviz dot files
under ``_generated/`` when the docs build starts, from the type declarations
themselves (``move_orchestrator.moves.types``), so the pictures in
moves.rst can never describe another version of the code."""

import os

from move_orchestrator.moves import graph
from move_orchestrator.moves import types as move_types


def write_dot_files(app):
    out = os.path.join(app.srcdir, '_generated')
    os.makedirs(out, exist_ok=True)
    for name in sorted(move_types.MOVE_TYPES):
        move_type = move_types.get(name)
        for kind, dot in (('states', graph.state_machine_dot(move_type)),
                          ('flow', graph.flow_dot(move_type))):
            path = os.path.join(out, '%s-%s.dot' % (name, kind))
            old = None
            if os.path.exists(path):
                with open(path) as f:
                    old = f.read()
            if old != dot:   # unchanged files keep sphinx's cache valid
                with open(path, 'w') as f:
                    f.write(dot)


def setup(app):
    app.connect('builder-inited', write_dot_files)
    return {'parallel_read_safe': True}
