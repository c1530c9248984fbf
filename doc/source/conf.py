import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '_ext'))

project = 'move-orchestrator'
copyright = '2026, move-orchestrator developers'
extensions = ['oslo_config.sphinxext', 'moveapiref']
exclude_patterns = ['api-samples']
html_theme = 'alabaster'
