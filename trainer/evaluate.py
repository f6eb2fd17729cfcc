"""``python trainer/evaluate.py`` (or ``accelerate launch trainer/evaluate.py``): the paper's
evaluation protocol. The protocol itself lives in ``trainer/eval/protocol.py``; this file is
where the command has always been typed, so it stays as the entry point.
"""

import sys
from pathlib import Path

# Run as a file (``python trainer/evaluate.py``): the checkout's root holds ``trainer``,
# which is not an installed package.
if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.eval.protocol import main

if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "evaluate"))
