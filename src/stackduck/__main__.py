"""``python -m stackduck``: the same as the ``stackduck`` command."""

from stackduck.entrypoints.cli import main

raise SystemExit(main())
