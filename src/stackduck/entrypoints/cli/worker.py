"""`stackduck worker MODULE:NAME`: run the handlers a module names, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Mapping

from stackduck.client import Worker
from stackduck.domain.errors import StackduckError
from stackduck.entrypoints.cli.tls import add_tls_options

log = logging.getLogger("stackduck")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "worker",
        help="run a worker: the handlers named by MODULE:NAME",
        description="Work jobs with the handlers MODULE:NAME names: a dict {job_type: callable} or a "
        "stackduck.Worker. Async handlers run on the event loop, others in threads; a return "
        "completes the job, an exception fails it. SIGTERM or SIGINT stops taking jobs and lets "
        "those in hand finish within the grace period.",
    )
    parser.add_argument(
        "target",
        metavar="MODULE:NAME",
        help="e.g. myapp.jobs:handlers (found from the current directory too)",
    )
    parser.add_argument(
        "--address", help="the server, host:port (default: SERVER_ADDR, else GRPC_PORT, else 127.0.0.1:50051)"
    )
    add_tls_options(parser)
    parser.add_argument(
        "--concurrency", type=int, help="handlers running at once (default 1, or the Worker's)"
    )
    parser.add_argument(
        "--worker-id", help="the name the server knows this worker by (default host-pid-random)"
    )
    parser.add_argument(
        "--grace", type=float, help="seconds jobs in hand get to finish after SIGTERM (default 20)"
    )
    parser.add_argument(
        "--log-level", default=os.environ.get("STACKDUCK_LOG_LEVEL", "INFO"), help="default INFO"
    )
    parser.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    logging.getLogger().setLevel(args.log_level.upper())
    try:
        worker = load_worker(args.target)
        worker = worker.with_options(
            address=args.address,
            concurrency=args.concurrency,
            worker_id=args.worker_id,
            grace=args.grace,
            tls=args.tls,
            tls_ca=args.tls_ca,
        )
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        log.error("cannot load the handlers %s: %s", args.target, exc)
        return 2
    try:
        worker.run_sync()
    except (StackduckError, ValueError) as exc:  # ValueError: no handlers, or no CA file
        log.error("worker stopped: %s", exc)
        return 1
    return 0


def load_worker(target: str) -> Worker:
    """The Worker, or a Worker over the dict of handlers, that ``module:name`` names."""
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise ValueError(f"expected MODULE:NAME, e.g. myapp.jobs:handlers; got {target!r}")
    if os.getcwd() not in sys.path:  # as `python -m` would: modules of the current directory
        sys.path.insert(0, os.getcwd())
    value = importlib.import_module(module_name)
    for part in name.split("."):
        value = getattr(value, part)
    if isinstance(value, Worker):
        return value
    if isinstance(value, Mapping):
        return Worker(handlers=value)
    raise TypeError(f"{target} is a {type(value).__name__}, not a dict of handlers or a stackduck.Worker")
