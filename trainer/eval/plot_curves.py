"""Plot a run's loss terms and validation curves from its ``log.jsonl``.

    python trainer/eval/plot_curves.py runs/lfw_cpu/log.jsonl -o docs/training_curves_gan.png

Panels against training minutes: the discriminator (its loss with the 2 ln 2 line of a D that
cannot tell real from fake, and its mean real / fake logits; left out for a run without one),
the generator terms, and the validation hole PSNR. Needs matplotlib (the ``train`` extra).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

GENERATOR_TERMS = ("l1", "per", "g_adv", "fm")


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    """(training rows, validation rows) of a log.jsonl."""
    train, val = [], []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        (val if "val_psnr" in row else train).append(row)
    return train, val


def plot(log_path: Path, out: Path, smooth: int = 5) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = read_log(log_path)

    def series(rows: list[dict], key: str, smooth: int = smooth) -> tuple[list[float], list[float]]:
        pts = [(r["minutes"], r[key]) for r in rows if key in r and "minutes" in r]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if smooth > 1 and len(ys) > smooth:
            ys = [
                sum(ys[max(0, i - smooth + 1) : i + 1]) / len(ys[max(0, i - smooth + 1) : i + 1])
                for i in range(len(ys))
            ]
        return xs, ys

    has_d = any("d_adv" in r for r in train)  # a reconstruction-only run has no discriminator
    fig, axes = plt.subplots(1, 3 if has_d else 2, figsize=(15 if has_d else 10, 4))
    axes = list(axes) if has_d else [None, *axes]
    if has_d:
        ax = axes[0]
        for key, label in (("d_adv", "D loss"), ("d_real_logit", "D real logit"), ("d_fake_logit", "D fake logit")):
            ax.plot(*series(train, key), label=label)
        ax.axhline(2 * math.log(2), color="grey", ls="--", lw=1, label="2 ln 2 (D at chance)")
        ax.set_title("discriminator")
        ax.legend(fontsize=8)
    ax = axes[1]
    for key in GENERATOR_TERMS:
        xs, ys = series(train, key)
        if ys:
            ax.plot(xs, ys, label=key)
    ax.set_yscale("log")
    ax.set_title("generator terms (unweighted)")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(*series(val, "val_masked_psnr", smooth=1), marker="o", label="hole PSNR")
    ax.set_title("validation hole PSNR (dB)")
    for a in axes:
        if a is not None:
            a.set_xlabel("training minutes")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Plot loss and validation curves of a training run.")
    p.add_argument("log", type=Path, help="the run's log.jsonl")
    p.add_argument("-o", "--out", type=Path, default=Path("training_curves.png"))
    p.add_argument("--smooth", type=int, default=5, help="moving average over this many log rows")
    args = p.parse_args(argv)
    print(f"wrote {plot(args.log, args.out, args.smooth)}")


if __name__ == "__main__":
    from trainer.entry import run_command

    raise SystemExit(run_command(main, "plot_curves"))
