"""``python -m pytest_memgate.cli``: the ``memgate`` command without its console script."""

import sys

from .app import main

sys.exit(main())
