"""Batch inpainting of folder trees: the plan, the runner, the processes and their logs.

``runner`` inpaints every image of a ``plan`` on this process's share (``processes``) and
records each output in the run's ``log``; the command line (``in2 batch``, ``in2.cli``)
parses the options into a ``BatchJob``. ``python -m in2.batch`` is the same command for
launchers (``accelerate launch -m in2.batch``, ``torchrun -m in2.batch``).
"""

from .runner import PIPELINE_OPTIONS, BatchJob, made_with, pipeline_options, run_batch

__all__ = ["BatchJob", "PIPELINE_OPTIONS", "made_with", "pipeline_options", "run_batch"]
