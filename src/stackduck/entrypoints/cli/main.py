"""The ``stackduck`` command: one parser, each subcommand in its own module."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stackduck import __version__
from stackduck.entrypoints import logs
from stackduck.entrypoints.bench import command as bench
from stackduck.entrypoints.cli import operator_commands, server, transfer, worker


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackduck", description="Stackduck job-queue server")
    parser.add_argument("--version", action="version", version=f"stackduck {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_commands(commands)
    args = parser.parse_args(argv)
    logs.configure()
    run = getattr(args, "run", server.serve)  # no command: serve
    return int(run(args))


#: Modules that add subcommands (each has ``add_commands(subparsers)``).
COMMANDS = [server, worker, operator_commands, transfer, bench]
