"""The pure domain: jobs, their state machine, retry and priority rules.

Standard library only; no I/O and no clock reads: time always comes in as an
argument (Unix seconds as ``float``).
"""
