"""Entrypoints: the gRPC server and the command line. Thin: translate, call, translate."""
