"""Run every ``benchmarks/bench_*.py`` module in turn.

Usage: ``python -m benchmarks [--only NAME ...] [options of the benches]``.
Each module has ``run(argv)``, prints its own figures and parses the options
it knows from ``argv`` (ignoring the others), so one command line can tune
several benchmarks. A benchmark that raises is reported and the others still
run; the exit status is then 1.
"""

import argparse
import importlib
import pkgutil
import signal
import sys
import traceback

import benchmarks


def bench_names():
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name.startswith('bench_'))


def _stop(signum, _frame):
    """SIGTERM unwinds as Ctrl-C does: each benchmark's own clean-up
    (libvirt daemons, agents, QEMUs, temporary databases) runs; the
    default action ended the process and left them running."""
    raise SystemExit(128 + signum)


def main(argv=None):
    signal.signal(signal.SIGTERM, _stop)
    # --help is ours (each benchmark ignores what it does not know): without
    # it, --help ran every benchmark.
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks', epilog='Each benchmark\'s own options are '
        'in its module\'s docstring (benchmarks/bench_NAME.py).')
    parser.add_argument('--only', action='append', default=[],
                        help='run only this benchmark (e.g. persistence); repeatable')
    parser.add_argument('--list', action='store_true', help='list the benchmarks')
    args, rest = parser.parse_known_args(argv)
    names = bench_names()
    if args.list:
        print('\n'.join(n[len('bench_'):] for n in names))
        return 0
    if args.only:
        names = [n for n in names if n[len('bench_'):] in args.only or n in args.only]
    failed = []
    for name in names:
        print('== %s' % name[len('bench_'):], flush=True)
        try:
            importlib.import_module('benchmarks.' + name).run(rest)
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
        print(flush=True)
    if failed:
        print('failed: %s' % ', '.join(failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
