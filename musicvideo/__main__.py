"""``python -m musicvideo`` is the ``musicvideo`` command."""

from .cli import main

raise SystemExit(main())
