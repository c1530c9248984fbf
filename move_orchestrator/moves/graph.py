"""Graphviz dot of a move type: its state machine and its flows."""

from move_orchestrator.moves.types import base


def _q(text):
    return '"%s"' % text.replace('"', '\\"')


def state_machine_dot(move_type):
    lines = ['digraph %s {' % _q(move_type.name + ' states'),
             '  rankdir=LR; node [shape=box, style=rounded];',
             '  label=%s; labelloc=t;' % _q(move_type.name + ': states')]
    colors = {base.COMPLETED: 'palegreen', base.REVERTED: 'khaki',
              base.FAILED: 'lightpink'}
    for state in move_type.states:
        attrs = ''
        if state in colors:
            attrs = ' [shape=doubleoctagon, style=filled, fillcolor=%s]' \
                % colors[state]
        lines.append('  %s%s;' % (_q(state), attrs))
    # One edge per (source, target), labelled with the events that take it.
    edges = {}
    for source, event, target in move_type.transitions():
        edges.setdefault((source, target), []).append(event)
    for (source, target), events in sorted(edges.items()):
        lines.append('  %s -> %s [label=%s];' % (
            _q(source), _q(target), _q(', '.join(sorted(events)))))
    lines.append('}')
    return '\n'.join(lines) + '\n'


def flow_dot(move_type):
    lines = ['digraph %s {' % _q(move_type.name + ' flow'),
             '  rankdir=TB; node [shape=box];',
             '  label=%s; labelloc=t;' % _q(move_type.name + ': flow')]
    previous = None
    first_after = move_type.stage_steps(base.CLEANUP)[0]
    for phase in base.PHASES:
        steps = [s for s in move_type.steps if s.cls.phase == phase]
        if not steps:
            continue
        lines.append('  subgraph %s {' % _q('cluster_' + phase))
        lines.append('    label=%s;' % _q(phase + (
            ' (retried, never reverted)' if phase == 'cleanup' else '')))
        for step in steps:
            lines.append('    %s [label=%s];' % (
                _q(step.cls.__name__),
                _q('%s\\n(%s)' % (step.cls.__name__, step.move_state))))
        lines.append('  }')
        for step in steps:
            if previous:
                style = ' [label="point of no return", color=red]' \
                    if step is first_after else ''
                lines.append('  %s -> %s%s;' % (
                    _q(previous), _q(step.cls.__name__), style))
            previous = step.cls.__name__
    lines.append('}')
    return '\n'.join(lines) + '\n'
