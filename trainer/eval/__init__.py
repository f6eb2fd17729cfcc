"""Evaluation of trained generators; nothing in training imports it.

- ``protocol``: the paper's protocol (Tables 2-5), run as ``python trainer/evaluate.py``;
- ``compare_fills``: IN2 against the fills a user already has (Telea, mean colour, the
  pre-fill), on faces or face parts;
- ``parts``: the face-part protocol and its judges (``face_judge``);
- ``snapshot_curve`` and ``plot_curves``: scores and losses of a run against time;
- ``metrics``: LPIPS-Alex next to the scores of ``in2.scores``.

Every entry point runs as a file path (``python trainer/eval/compare_fills.py ...``).
"""
