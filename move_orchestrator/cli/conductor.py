import signal
import threading

from move_orchestrator.cli import bases
from move_orchestrator import states


class RunConductor(bases.Command):
    """Run the embedded conductor in the foreground.

    It resumes every move a stopped conductor left unfinished, then takes
    the moves other processes accept for this database. SIGTERM or SIGINT
    stop it after the running steps, leaving their moves to the next one.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--until-idle', action='store_true',
                            help='exit once no unfinished move is left')
        parser.add_argument('--poll', type=float, default=0.5,
                            help='seconds between looks for new moves')
        return parser

    @staticmethod
    def _work_left(services):
        """Whether a move or a drain can still go on by itself: not a
        failed move, nor the waiting children of a paused or failed drain
        (they wait for an operator)."""
        held = set()
        for drain in services.drains.list_unfinished():
            if drain['state'] not in (states.PAUSED, states.FAILED):
                return True
            held.add(drain['id'])
        return any(m['state'] != states.FAILED and not (
            m['drain_id'] in held and m['admitted_at'] is None)
            for m in services.store.list_unfinished())

    def take_action(self, args):
        client = self.app.client
        conductor = client.conductor
        if not conductor.start():
            self.app.stderr.write('another conductor runs the moves of this '
                                  'database\n')
            return 1
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *a: stop.set())
        while not stop.is_set():
            conductor.resume_unfinished()   # moves accepted elsewhere
            if args.until_idle and conductor.idle() and \
                    not self._work_left(client.services):
                break
            stop.wait(args.poll)
        if stop.is_set():
            conductor.suspend_all()
        return 0
