"""Everything that measures IN2 rather than runs it; nothing outside ``in2.bench`` imports it
(the scores it reports come from the core, ``in2.scores``, which the trainer shares).

- ``python -m in2.bench``: latency, peak memory, attention and decoder timings (``latency``),
  optionally against the LaMa-Fourier yardstick (``lama``), on holes drawn by ``holes``;
- ``python -m in2.bench.gpu``: the one prepared GPU run behind the README's GPU table;
- ``python -m in2.bench.memory``: the per-pixel memory slope behind ``runtime.BYTES_PER_PIXEL``;
- ``python -m in2.bench.precision``: how far reduced precisions move the fill on real photos;
- ``python -m in2.bench.crop``: crop per hole region vs the whole photo on large photos.

``peak_memory`` is the one peak-memory harness.
"""
