"""Training, evaluation and export for IN2 (Accelerate; one CPU to many GPUs).

Training lives at the top of this package (``train.py`` and the parts it assembles),
evaluation in ``trainer/eval/``; nothing in training imports evaluation. The trainer is a
folder of the checkout, not an installed package (``pip install -e ".[train]"`` installs the
core and the training dependencies): every entry point runs as a file path from the
repository root, and those that import ``trainer`` put the checkout's root on ``sys.path``:
``accelerate launch trainer/train.py``, ``python trainer/evaluate.py``,
``python trainer/eval/compare_fills.py``, ``python trainer/eval/snapshot_curve.py``,
``python trainer/eval/plot_curves.py``, ``python trainer/masks.py make-eval-set``,
``python trainer/synthetic_faces.py``, ``python trainer/export.py push``. See docs/training.md.
"""
