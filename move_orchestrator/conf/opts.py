"""Entry point for oslo-config-generator (namespace ``move_orchestrator``)."""

from move_orchestrator import conf as mo_conf


def list_opts():
    opts = {}
    for module in mo_conf.MODULES:
        for group, group_opts in module.list_opts().items():
            opts.setdefault(group, []).extend(group_opts)
    return sorted(opts.items(), key=lambda item: item[0])
