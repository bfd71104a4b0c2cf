"""The ``stackduck`` command line."""

from stackduck.entrypoints.cli.main import main

__all__ = ["main"]
