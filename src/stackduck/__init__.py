"""Stackduck: a language-agnostic job-queue server with a gRPC API."""

__version__ = "0.1.0"
