"""One file holds the numbers the docs quote for the bundled weights: ``in2/demo_weights/metrics.json``.

The evaluation writes it (``compare_fills.py --record FILE``), keyed by protocol and test set,
and the docs' tests check that the README quotes only numbers found there, so a table cannot
drift from the run behind it. Rows a finished run wrote to its ``parts.json`` or
``results.json`` can be added afterwards without rerunning it:

    python trainer/eval/record.py in2/demo_weights/metrics.json parts/lfw runs/parts_eval/lfw/parts.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

METRICS_FILE = Path(__file__).resolve().parents[2] / "in2" / "demo_weights" / "metrics.json"


def _finite(value):
    """JSON has no infinity: an infinite PSNR (a fill equal to the photo) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def record(path: Path, key: str, rows: list[dict], command: str = "") -> None:
    """Put ``rows`` under ``key`` in ``path`` (other keys kept), written atomically."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = {"command": command, "rows": _finite(rows)}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Add an evaluation's rows to the metrics file the docs quote.")
    p.add_argument("file", type=Path)
    p.add_argument("key", help="e.g. parts/lfw, parts/utk, brush/lfw")
    p.add_argument("rows", type=Path, help="the parts.json / results.json a run wrote")
    p.add_argument("--command", default="", help="the command that produced the rows")
    args = p.parse_args(argv)
    record(args.file, args.key, json.loads(args.rows.read_text()), args.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
