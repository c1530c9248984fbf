"""Every option read and checked once, at start, before a command or a
service does anything: a bad value is one line naming its file, section
and option, not a move that reverts later with ConfigFileValueError in its
history.
"""

from oslo_config import cfg

from move_orchestrator import faults


class ConfigInvalid(Exception):
    """One line for the operator; the process exits 2."""


# Options whose values are parsed further than oslo.config's types.
FAULT_SPECS = (('fake_driver', 'faults'), ('fault_injection', 'task_faults'))


def parse(conf, argv, project='move-orchestrator', **kwargs):
    """``conf(argv)``, then check(); oslo.config's own errors become
    ConfigInvalid."""
    try:
        conf(argv, project=project, **kwargs)
    except cfg.ConfigFilesNotFoundError as e:
        raise ConfigInvalid('config file not found: %s'
                            % ', '.join(e.config_files)) from e
    except cfg.ConfigFilesPermissionDeniedError as e:
        raise ConfigInvalid('config file not readable: %s'
                            % ', '.join(e.config_files)) from e
    except cfg.ConfigDirNotFoundError as e:
        raise ConfigInvalid('config directory not found: %s'
                            % e.config_dir) from e
    except cfg.ConfigFileParseError as e:
        raise ConfigInvalid('%s: not a valid config file: %s'
                            % (e.config_file, e.msg)) from e
    except cfg.ConfigFileValueError as e:
        raise ConfigInvalid(str(e)) from e
    except SystemExit as e:
        # A bad value of a command-line option (debug = perhaps) in a file:
        # argparse has said which option; say which file.
        if e.code == 0 or not isinstance(e.__context__, ValueError):
            raise
        raise ConfigInvalid('%s: %s' % (', '.join(conf.config_file or ())
                                        or 'command line', e.__context__))
    check(conf)


def check(conf):
    """Read every registered option (oslo.config converts lazily) and parse
    the fault specs."""
    for group, name in _options(conf):
        try:
            value = (conf[group] if group else conf)[name]
        except (cfg.ConfigFileValueError, cfg.RequiredOptError,
                ValueError) as e:
            raise ConfigInvalid(_where(conf, group, name) + _reason(e)) from e
        if (group, name) in FAULT_SPECS:
            try:
                faults.parse(value)
            except ValueError as e:
                raise ConfigInvalid(_where(conf, group, name) + str(e)) from e


def _options(conf):
    for name in list(conf):
        if isinstance(conf[name], cfg.ConfigOpts.GroupAttr):
            for opt in list(conf[name]):
                yield name, opt
        else:
            yield None, name


def _where(conf, group, name):
    try:
        location = conf.get_location(name, group)
        detail = location.detail if location else None
    except (cfg.NoSuchOptError, ValueError):
        detail = None
    # A value that did not convert has no location: name the files read.
    source = detail or ', '.join(conf.config_file or ()) or 'command line'
    return '%s: [%s] %s: ' % (source, group or 'DEFAULT', name)


def _reason(error):
    cause = error.__context__ or error.__cause__
    return str(cause if isinstance(cause, ValueError) else error)
