"""Figures: the confusion panels never overlap, epoch axes use whole numbers."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from reports.plots import confusion_figure, plot_val
from reports.summary import summarize
from tests.reports.factory import make_grid


def _val_figure(ds: object, tmp_path: Path) -> plt.Figure:
    """The figure ``plot_val`` saves (captured at ``savefig``, before the plot closes it)."""
    captured: list[plt.Figure] = []
    orig = plt.Figure.savefig

    def keep(self, *a, **kw):  # type: ignore[no-untyped-def]
        captured.append(self)
        return orig(self, *a, **kw)

    plt.Figure.savefig = keep  # type: ignore[method-assign]
    try:
        assert plot_val(ds, tmp_path)  # type: ignore[arg-type]
    finally:
        plt.Figure.savefig = orig  # type: ignore[method-assign]
    return captured[0]


@pytest.mark.parametrize(
    "labels",
    [
        ["negative", "neutral", "positive"],
        ["strongly negative sentiment", "neutral / unclear", "strongly positive sentiment", "other"],
    ],
)
def test_confusion_panels_do_not_overlap(labels: list[str]) -> None:
    recs = make_grid(methods=("full", "lora", "flat_lora"))
    k = len(labels)
    for r in recs:
        r["dataset_info"]["label_names"] = labels
        r["test"]["confusion_matrix"] = [[i * k + j for j in range(k)] for i in range(k)]
    ds = summarize(recs, n_resamples=99).datasets[0]
    fig = confusion_figure(ds)
    assert fig is not None
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    axes = fig.axes
    assert len(axes) == 3
    boxes = [ax.get_tightbbox(renderer) for ax in axes]  # axes + tick labels + axis labels + title
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not a.overlaps(b), f"panel {i} and panel {j} overlap: {a} vs {b}"
    assert not any(t.get_visible() and t.get_text() for ax in axes[1:] for t in ax.get_yticklabels())
    plt.close(fig)


def test_val_figure_uses_integer_epoch_ticks(tmp_path: Path) -> None:
    ds = summarize(make_grid(methods=("lora", "flat_lora")), n_resamples=99).datasets[0]
    for ax in _val_figure(ds, tmp_path).axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_val_figure_single_epoch_ticks_that_epoch(tmp_path: Path) -> None:
    recs = make_grid(methods=("lora",), seeds=(42,))
    for r in recs:
        r["val_history"] = r["val_history"][:1]
    ds = summarize(recs, n_resamples=99).datasets[0]
    for ax in _val_figure(ds, tmp_path).axes:
        assert list(ax.get_xticks()) == [1.0]
        assert ax.lines and ax.lines[0].get_marker() == "o"  # a single point stays visible
