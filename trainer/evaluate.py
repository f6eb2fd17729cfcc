"""``python trainer/evaluate.py`` (or ``accelerate launch trainer/evaluate.py``): the paper's
evaluation protocol. The protocol itself lives in ``trainer/eval/protocol.py``; this file is
where the command has always been typed, so it stays as the entry point.
"""

from trainer.eval.protocol import main

if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "evaluate"))
