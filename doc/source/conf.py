import os
import sys

# oslo.messaging's options import oslo.service, which imports eventlet: its
# deprecation banner is noise here too (see move_orchestrator/cli).
import move_orchestrator.cli  # noqa: F401,E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '_ext'))

project = 'move-orchestrator'
copyright = '2026, move-orchestrator developers'
extensions = [
    'oslo_config.sphinxext',     # .. show-options::
    'cliff.sphinxext',           # .. autoprogram-cliff::
    'sphinx.ext.graphviz',       # .. graphviz:: (needs graphviz's dot)
    'moveapiref',                # the REST API reference
    'move_graphs',               # the move types' dot files, made per build
]
exclude_patterns = ['_build', 'api-samples']
html_theme = 'alabaster'
graphviz_output_format = 'svg'
autoprogram_cliff_application = 'move-orchestrator'
# cliff's own options on every list/show command say nothing new.
autoprogram_cliff_ignored = ['--help', '--format', '--column', '--noindent',
                             '--max-width', '--fit-width', '--print-empty',
                             '--prefix', '--quote', '--sort-column',
                             '--sort-ascending', '--sort-descending']
