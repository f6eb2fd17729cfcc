"""``python -m in2.bench``: the benchmark of ``in2.bench.latency``."""

import sys

from .latency import main

sys.exit(main())
