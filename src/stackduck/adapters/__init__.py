"""Adapters: one package per technology, each implementing the application's ports."""
