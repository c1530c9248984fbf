import warnings

# As in move_orchestrator/cli: oslo.messaging imports oslo.service, whose
# default backend imports eventlet, which prints a deprecation banner on
# every service start. Nothing here uses eventlet (the services' processes
# are cotyledon's): import it once, quietly.
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    try:
        import eventlet  # noqa: F401
    except ImportError:
        pass
