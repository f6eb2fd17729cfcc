"""``accelerate launch [...] -m in2.batch ...`` and ``torchrun [...] -m in2.batch ...``: ``in2 batch`` per process."""

import sys

from ..cli import main

sys.exit(main(["batch", *sys.argv[1:]]))
