"""``python -m cli`` is the ``lookalike`` command."""

import sys

from cli import main

sys.exit(main())
