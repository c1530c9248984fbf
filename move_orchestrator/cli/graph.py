import os
import shutil
import subprocess

from move_orchestrator.cli import bases
from move_orchestrator.moves import graph
from move_orchestrator.moves import types as move_types


class Graph(bases.Command):
    """A move type's state machine and flow as Graphviz dot (and PNG)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('type', choices=sorted(move_types.MOVE_TYPES))
        parser.add_argument('--png', metavar='PREFIX',
                            help='also write PREFIX-states.png and '
                                 'PREFIX-flow.png (needs graphviz\'s dot)')
        return parser

    def take_action(self, args):
        move_type = move_types.get(args.type)
        dots = {'states': graph.state_machine_dot(move_type),
                'flow': graph.flow_dot(move_type)}
        for dot in dots.values():
            self.app.stdout.write(dot)
        if args.png:
            dot_bin = shutil.which('dot')
            if dot_bin is None:
                self.app.stderr.write('graphviz is not installed (apt-get '
                                      'install graphviz): no PNG written\n')
                return 2
            for kind, dot in dots.items():
                path = '%s-%s.png' % (args.png, kind)
                subprocess.run([dot_bin, '-Tpng', '-o', path],
                               input=dot.encode(), check=True)
                self.app.stderr.write('wrote %s\n' % os.path.abspath(path))
        return 0
