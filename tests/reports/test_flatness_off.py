"""Runs trained with the flatness probe off (`--no-flatness`): the report says "not measured"."""

from __future__ import annotations

import json

from reports.render import render
from reports.summary import summarize
from tests.reports.factory import make_grid


def _probe_off(recs: list[dict], methods: tuple[str, ...]) -> list[dict]:
    for r in recs:
        if r["method"] in methods:
            r["flatness"] = None
            r["config"]["flatness_k"] = 0
    return recs


def test_no_method_measured_gives_a_not_measured_section() -> None:
    s = summarize(_probe_off(make_grid(), ("full", "lora", "flat_lora")), run_id="off", n_resamples=99)
    ds = s.datasets[0]
    assert ds.flatness == {} and ds.flatness_off == ["full", "lora", "flat_lora"]
    text = render(s)
    assert "#### Flatness\n\nFlatness not measured for Full FT, LoRA, Flat-LoRA: the probe was off" in text
    assert render(json.loads(json.dumps(s.to_dict()))) == text


def test_some_methods_measured_keeps_the_table_and_names_the_rest() -> None:
    s = summarize(_probe_off(make_grid(), ("lora",)), run_id="some", n_resamples=99)
    ds = s.datasets[0]
    assert set(ds.flatness) == {"full", "flat_lora"} and ds.flatness_off == ["lora"]
    text = render(s)
    assert text.count("#### Flatness") == 1 and "Flatness not measured for LoRA: the probe was off" in text


def test_a_failed_run_is_not_called_unmeasured() -> None:
    s = summarize(make_grid(failed=(("lora", 44),)), run_id="fail", n_resamples=99)
    assert s.datasets[0].flatness_off == [] and "not measured" not in render(s)
