project = 'move-orchestrator'
copyright = '2026, move-orchestrator developers'
extensions = ['oslo_config.sphinxext']
exclude_patterns = []
html_theme = 'alabaster'
