import warnings

# TaskFlow and oslo.service import eventlet when it is installed; nothing
# here uses it, and the banner it prints (through a filter of its own) on
# import is noise on every command. Import it once, quietly.
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    try:
        import eventlet  # noqa: F401
    except ImportError:
        pass
