"""What a first reader sees: every method's curve visible, a lone epoch with its error bar, no negative
zero, cost numbers labelled as indicative, gold and prediction ahead of the text, pairs called examples."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.container import ErrorbarContainer

from reports.plots import METHOD_STYLES, plot_flatness, plot_train_loss, plot_val
from reports.render import clip, fmt_ci, fmt_num, fmt_signed, render
from reports.summary import summarize
from tests.reports.factory import make_grid


def _figure(plot, ds, tmp_path: Path) -> plt.Figure:  # type: ignore[no-untyped-def]
    captured: list[plt.Figure] = []
    orig = plt.Figure.savefig

    def keep(self, *a, **kw):  # type: ignore[no-untyped-def]
        captured.append(self)
        return orig(self, *a, **kw)

    plt.Figure.savefig = keep  # type: ignore[method-assign]
    try:
        assert plot(ds, tmp_path)
    finally:
        plt.Figure.savefig = orig  # type: ignore[method-assign]
    return captured[0]


def _identical_grid() -> list[dict]:
    """LoRA and Flat-LoRA with the very same numbers: one curve lies exactly on the other."""
    recs = make_grid(methods=("lora", "flat_lora"), seeds=(42, 43))
    by_seed = {r["seed"]: r for r in recs if r["method"] == "lora"}
    for r in recs:
        if r["method"] == "flat_lora":
            src = by_seed[r["seed"]]
            for k in ("train_loss", "val_history", "flatness"):
                r[k] = src[k]
    return recs


@pytest.mark.parametrize("plot", [plot_train_loss, plot_val, plot_flatness])
def test_identical_curves_stay_distinguishable(plot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ds = summarize(_identical_grid(), n_resamples=99).datasets[0]
    fig = _figure(plot, ds, tmp_path)
    for ax in fig.axes:
        lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
        if not lines:
            continue
        a, b = lines["LoRA"], lines["Flat-LoRA"]
        assert a.get_linestyle() != b.get_linestyle()
        assert a.get_marker() != b.get_marker() and a.get_marker() not in ("", "None", None)
        assert a.get_color() != b.get_color()
    plt.close(fig)


def test_every_method_has_its_own_style() -> None:
    looks = [(str(s["ls"]), s["marker"], s["color"]) for s in METHOD_STYLES.values()]
    for i in range(3):
        assert len({look[i] for look in looks}) == len(looks)


def test_one_epoch_is_a_point_with_its_error_bar(tmp_path: Path) -> None:
    recs = make_grid(methods=("lora", "flat_lora"), seeds=(42, 43, 44))
    for r in recs:
        r["val_history"] = r["val_history"][:1]
        r["val_history"][0]["loss"] = 0.5 + 0.05 * (r["seed"] - 42)  # seeds differ: std > 0
    ds = summarize(recs, n_resamples=99).datasets[0]
    fig = _figure(plot_val, ds, tmp_path)
    loss_ax = fig.axes[0]
    bars = [c for c in loss_ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2  # one per method
    for c in bars:
        (segments,) = c.lines[2]  # the vertical error-bar segments
        (x0, y0), (x1, y1) = segments.get_segments()[0]
        assert x0 == x1 == 1.0 and y1 - y0 == pytest.approx(2 * 0.05)  # ± the std over seeds (0.05)
    plt.close(fig)


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        (fmt_num, -1e-7, "0.000"),
        (fmt_num, -0.0, "0.000"),
        (fmt_num, -0.0004, "0.000"),
        (fmt_num, -0.0006, "-0.001"),
        (fmt_signed, -1e-9, "+0.000"),
        (fmt_signed, -0.01, "-0.010"),
    ],
)
def test_no_negative_zero(fmt, value: float, text: str) -> None:  # type: ignore[no-untyped-def]
    assert fmt(value) == text
    assert fmt_ci(-1e-9, 0.25) == "[0.000, 0.250]"


def test_flatness_table_has_no_negative_zero() -> None:
    recs = make_grid(methods=("lora", "flat_lora"), seeds=(42, 43))
    for r in recs:
        r["flatness"]["mean_increase"][0] = -1e-6
        r["flatness"]["std_increase"][0] = 0.0
    text = render(summarize(recs, n_resamples=99))
    assert "-0.0000" not in text and "0.0000 ± 0.0000" in text


def test_cost_is_labelled_indicative_and_gold_comes_before_the_text() -> None:
    recs = make_grid(methods=("lora", "flat_lora"), seeds=(42, 43))
    long = "word " * 100
    for r in recs:
        for p in r["predictions"]:
            p["text"] = long
    text = render(summarize(recs, n_resamples=99))
    cost = text[text.index("### Cost") :]
    assert "Indicative: measured under the machine's load at the time" in cost.split("|")[0]
    header = next(ln for ln in text.splitlines() if ln.startswith("| # |"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells.index("Gold") < cells.index("Sentence") and cells[-1] == "Sentence"
    assert "disagree on" in text and " test sentences:" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| ") and "word word" in ln)
    assert len(row) < 300 and "…" in row  # a long text is clipped; gold and predictions stay in view


def test_pairs_are_called_examples() -> None:
    recs = make_grid(methods=("lora", "flat_lora"), seeds=(42, 43))
    for r in recs:
        r["dataset_info"]["sentence_pairs"] = True
    text = render(summarize(recs, n_resamples=99))
    assert " test examples:" in text and " test sentences" not in text
    header = next(ln for ln in text.splitlines() if ln.startswith("| # |"))
    assert header.rstrip().endswith("| Example |")


@pytest.mark.parametrize(("n", "expected_len"), [(10, 10), (200, None)])
def test_clip_cuts_at_a_word(n: int, expected_len: int | None) -> None:
    s = " ".join(["abcd"] * n)[: 5 * n - 1]
    out = clip(s)
    if expected_len is not None:
        assert out == s
    else:
        assert out.endswith("…") and len(out) <= 160 and out[:-1].endswith("abcd")
