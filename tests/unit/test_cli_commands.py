"""Every ``move-orchestrator`` command builds its parser without mapping
the installed distributions to their packages (cliff's plugin epilog did,
0.15-0.2 s of every command's run)."""

from importlib import metadata

from cliff import command as cliff_command
import pytest

from move_orchestrator.cli import main


def _commands():
    return sorted(metadata.entry_points(group='move_orchestrator.cli'),
                  key=lambda ep: ep.name)


@pytest.mark.parametrize('entry_point', _commands(), ids=lambda ep: ep.name)
def test_parser_without_the_distributions_map(entry_point, monkeypatch):
    def mapped():
        raise AssertionError('the installed distributions were mapped')
    monkeypatch.setattr(cliff_command, 'packages_distributions', mapped)
    monkeypatch.setattr(cliff_command, '_dists_by_mods', None)
    name = entry_point.name.replace('_', ' ')
    cls = entry_point.load()
    cmd = cls(main.MoveOrchestratorApp(), None, cmd_name=name)
    parser = cmd.get_parser('move-orchestrator %s' % name)
    assert parser.epilog == (cls._epilog or '')
    assert parser.description     # the help still says what it does


def test_the_check_sees_cliffs_own_epilog(monkeypatch):
    """cliff's default still maps them: what the test above would catch."""
    calls = []
    monkeypatch.setattr(cliff_command, 'packages_distributions',
                        lambda: calls.append(1) or {})
    monkeypatch.setattr(cliff_command, '_dists_by_mods', None)

    class Plain(cliff_command.Command):
        """A command on cliff's own base."""

        def take_action(self, parsed_args):
            pass

    Plain(main.MoveOrchestratorApp(), None, cmd_name='plain').get_parser('x')
    assert calls
