"""``python -m in2``: the same command line as the ``in2`` script."""

import sys

from .cli import main

sys.exit(main())
