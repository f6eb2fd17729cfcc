"""Training, evaluation and export for IN2 (Accelerate; one CPU to many GPUs).

Entry points: ``trainer/train.py``, ``trainer/evaluate.py``, ``trainer/compare_fills.py``,
``python -m trainer.masks make-eval-set``, ``python -m trainer.synthetic_faces``,
``python -m trainer.export push``. See docs/training.md.
"""
