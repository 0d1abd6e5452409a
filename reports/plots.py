"""Figures for the report (matplotlib, Agg backend): PNG files written beside report.md.

Each function takes a :class:`reports.summary_types.DatasetSummary` and returns the file name it wrote (relative to
``out_dir``) or None when there is nothing to plot; :func:`plot_dataset` fills ``DatasetSummary.figures``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from flatlora.bench.design import points_text
from reports.labels import METHOD_LABELS, METRIC_LABELS
from reports.summary_types import Band, DatasetSummary

_DPI = 110


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _save(fig: plt.Figure, out_dir: Path, name: str) -> str:
    path = out_dir / name
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp.png")  # two reports at once
    fig.savefig(
        tmp, dpi=_DPI, bbox_inches="tight", metadata={"Software": None}
    )  # no version stamp: stable bytes
    plt.close(fig)
    os.replace(tmp, path)
    return name


# One look per method, the same in every figure: colour, line style and marker all differ, so a method
# whose curve lies exactly on another's still shows (dashes and markers of both stay visible).
METHOD_STYLES: dict[str, dict[str, object]] = {
    "full": {"color": "tab:gray", "ls": "-", "marker": "s"},
    "lora": {"color": "tab:blue", "ls": "--", "marker": "o"},
    "flat_lora": {"color": "tab:red", "ls": "-.", "marker": "^"},
    "sam_ab": {"color": "tab:green", "ls": ":", "marker": "D"},
    "sam_w": {"color": "tab:purple", "ls": (0, (5, 1, 1, 1, 1, 1)), "marker": "v"},
}
_FALLBACK_MARKERS = ("P", "X", "*", "h", "<", ">")


def method_style(method: str) -> dict[str, object]:
    if method in METHOD_STYLES:
        return dict(METHOD_STYLES[method])
    k = sum(map(ord, method)) % len(_FALLBACK_MARKERS)
    return {"ls": "-", "marker": _FALLBACK_MARKERS[k]}


def _band(ax: plt.Axes, band: Band, label: str, method: str = "") -> None:
    """Mean over seeds with a ± std band; a single point (one epoch) as a marker with its error bar."""
    x, m, s = np.asarray(band.x), np.asarray(band.mean), np.asarray(band.std)
    st = method_style(method or label)
    color, ls, marker = st.get("color"), st["ls"], st["marker"]
    if len(x) == 1:
        ax.errorbar(x, m, yerr=np.nan_to_num(s), fmt=str(marker), color=color, capsize=4, ms=6, label=label)
        return
    every = max(1, len(x) // 12)  # markers on long curves too, about a dozen of them
    (line,) = ax.plot(
        x, m, label=label, lw=1.5, ls=ls, color=color, marker=marker, ms=4, markevery=every, mfc="none"
    )
    ax.fill_between(x, m - s, m + s, color=line.get_color(), alpha=0.15, lw=0)


def plot_train_loss(ds: DatasetSummary, out_dir: Path) -> str | None:
    if not any(b.x for b in ds.train_loss.values()):
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m, band in ds.train_loss.items():
        if band.x:
            _band(ax, band, METHOD_LABELS.get(m, m), m)
    ax.set(xlabel="step", ylabel="train loss", title=f"{ds.name}: train loss (mean ± std over seeds)")
    ax.legend()
    return _save(fig, out_dir, f"{_slug(ds.name)}_train_loss.png")


def plot_val(ds: DatasetSummary, out_dir: Path) -> str | None:
    third = ds.headline_metric if ds.headline_metric != "accuracy" else "weighted_f1"
    metrics = ("loss", "accuracy", third)
    if not any(ds.val_curves[m][k].x for m in ds.val_curves for k in metrics if k in ds.val_curves[m]):
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(12, 3.5), layout="constrained")
    for ax, k in zip(axes, metrics, strict=True):
        for m, curves in ds.val_curves.items():
            if k in curves and curves[k].x:
                _band(ax, curves[k], METHOD_LABELS.get(m, m), m)
        ax.set(xlabel="epoch", ylabel=f"val {METRIC_LABELS.get(k, k)}")
        ax.ticklabel_format(axis="y", useOffset=False)  # plain values, not "1e-6 + 6.95e-1" offsets
        epochs = sorted({x for c in ds.val_curves.values() if k in c for x in c[k].x})
        if 0 < len(epochs) <= 12:
            ax.set_xticks(epochs, [f"{e:g}" for e in epochs])  # epochs are whole numbers: tick each one
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend()
    fig.suptitle(f"{ds.name}: validation (mean ± std over seeds)")
    return _save(fig, out_dir, f"{_slug(ds.name)}_val.png")


def plot_flatness(ds: DatasetSummary, out_dir: Path) -> str | None:
    if not ds.flatness:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m, f in ds.flatness.items():
        st = method_style(m)
        ax.errorbar(
            f.sigmas,
            f.mean_increase,
            yerr=f.std_increase,
            marker=st["marker"],
            ls=st["ls"],
            color=st.get("color"),
            mfc="none",
            capsize=3,
            label=f"{METHOD_LABELS.get(m, m)} ({f.n} seed{'s' * (f.n != 1)})",
        )
    n = sorted({f.n for f in ds.flatness.values()})
    seeds = f"{n[0]} seeds" if len(n) == 1 else "each method's seeds"
    ax.set(
        xlabel="σ (relative weight noise)",
        ylabel="loss increase",
        title=f"{ds.name}: flatness (mean ± std over {seeds})",
    )
    ax.legend()
    return _save(fig, out_dir, f"{_slug(ds.name)}_flatness.png")


def confusion_figure(ds: DatasetSummary) -> plt.Figure | None:
    """One panel per method sharing the gold (y) axis: row labels are drawn once, on the left panel, and
    constrained layout sizes every panel around its own tick labels, so panels cannot overlap."""
    if not ds.confusion:
        return None
    n = len(ds.confusion)
    k = len(next(iter(ds.confusion.values())))
    side = max(3.0, 0.45 * k + 1.6)
    fig, axes = plt.subplots(
        1, n, figsize=(side * n + 1.0, side + 0.6), squeeze=False, sharey=True, layout="constrained"
    )
    for idx, (ax, (m, cm)) in enumerate(zip(axes[0], ds.confusion.items(), strict=True)):
        a = np.asarray(cm)  # (gold, pred)
        ax.imshow(a, cmap="Blues")
        for (i, j), v in np.ndenumerate(a):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > a.max() / 2 else "black")
        ticks = list(range(a.shape[0]))
        labels = ds.label_names if len(ds.label_names) == a.shape[0] else [str(t) for t in ticks]
        ax.set_xticks(ticks, labels, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_yticks(ticks, labels)
        ax.set(title=METHOD_LABELS.get(m, m), xlabel="predicted")
        if idx == 0:
            ax.set_ylabel("gold")
        else:
            ax.tick_params(axis="y", labelleft=False)
    fig.suptitle(f"{ds.name}: confusion (summed over seeds)")
    return fig


def plot_confusion(ds: DatasetSummary, out_dir: Path) -> str | None:
    fig = confusion_figure(ds)
    return None if fig is None else _save(fig, out_dir, f"{_slug(ds.name)}_confusion.png")


def plot_dataset(ds: DatasetSummary, out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Write all figures for one dataset and record their file names in ``ds.figures``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind, fn in (
        ("train_loss", plot_train_loss),
        ("val", plot_val),
        ("flatness", plot_flatness),
        ("confusion", plot_confusion),
    ):
        name = fn(ds, out)
        if name:
            ds.figures[kind] = name
    return ds.figures


def plot_primary(ds: DatasetSummary, out_dir: str | os.PathLike[str]) -> str | None:
    """The verdict in one picture: each seed's Flat-LoRA − LoRA difference, the paired estimate with its
    95% and 90% t intervals and the two-way bootstrap interval, against 0 and the equivalence margin."""
    p = ds.primary
    if p is None or not p.diffs:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
    ax.axvspan(-p.margin, p.margin, color="tab:green", alpha=0.12, lw=0, label="±" + points_text(p.margin))
    ax.axvline(0.0, color="black", lw=0.8)
    jitter = np.linspace(-0.12, 0.12, len(p.diffs)) if len(p.diffs) > 1 else np.zeros(1)
    ax.plot(p.diffs, 2 + jitter, "o", ms=4, color="tab:gray", alpha=0.8, label="per seed")
    rows: list[tuple[float, float, float, str]] = []
    if np.isfinite(p.ci_low):
        rows.append((1.0, p.ci_low, p.ci_high, "95% paired t"))
        rows.append((0.6, p.ci90_low, p.ci90_high, "90% paired t (TOST)"))
    b = p.bootstrap or {}
    if b.get("low") is not None and np.isfinite(b.get("low", np.nan)):
        rows.append((0.0, float(b["low"]), float(b["high"]), "95% two-way bootstrap"))
    for y, lo, hi, label in rows:
        ax.plot([lo, hi], [y, y], lw=3 if "95% paired" in label else 1.8, marker="|", ms=10, label=label)
    ax.plot([p.estimate], [1.0], "D", color="black", ms=5, label="paired estimate")
    ax.set_yticks([])
    metric = METRIC_LABELS.get(p.metric, p.metric)
    ax.set(
        xlabel=f"Flat-LoRA − LoRA, test {metric}",
        title=f"{ds.name}: primary endpoint over {p.n} paired seeds",
        ylim=(-0.6, 2.6),
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, f"{_slug(ds.name)}_primary.png")
