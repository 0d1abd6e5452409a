"""Perturbations: documented rates, determinism, seed/item sensitivity, pairing, gold untouched."""

from __future__ import annotations

import math
import re
import unicodedata

import pytest

from llm_eval.perturb import (
    EMOJI,
    KINDS,
    LEVELS,
    MIXED_KINDS,
    NOISE_KINDS,
    RATES,
    ZERO_WIDTH,
    _qwerty_neighbours,
    homoglyph_table,
    perturb,
    perturb_with_stats,
    rates_table_markdown,
)

QUESTIONS = [
    "What is the capital of France?",
    "Who wrote the play Hamlet, and when?",
    "Which planet is known as the Red Planet?",
    "What is the chemical symbol for gold; is it Au?",
    "How many continents are there on Earth?",
]
# ~4000 letters: enough for 4-sigma binomial tolerances of about +/-0.02 at p = 0.15
LONG = " ".join(QUESTIONS * 30)


def _within(k: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(k / n - p) <= sigmas * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("level", LEVELS)
def test_deterministic_and_pure(kind: str, level: str) -> None:
    a = perturb(LONG, kind, level, seed=1, item_id="nz-001")
    b = perturb(LONG, kind, level, seed=1, item_id="nz-001")
    assert a == b
    assert a != LONG  # at these lengths every kind changes something


@pytest.mark.parametrize("kind", KINDS)
def test_seed_and_item_sensitivity(kind: str) -> None:
    base = [perturb(q, kind, "heavy", seed=0, item_id=f"it-{i}") for i, q in enumerate(QUESTIONS * 4)]
    other_seed = [perturb(q, kind, "heavy", seed=1, item_id=f"it-{i}") for i, q in enumerate(QUESTIONS * 4)]
    other_item = [perturb(q, kind, "heavy", seed=0, item_id=f"x-{i}") for i, q in enumerate(QUESTIONS * 4)]
    assert base != other_seed
    assert base != other_item
    # same question, different item ids -> not all identical (seeded by item, not by text)
    assert len({perturb(QUESTIONS[0], kind, "heavy", seed=0, item_id=f"i{i}") for i in range(20)}) > 1


@pytest.mark.parametrize("kind", KINDS)
def test_rate_zero_is_identity(kind: str) -> None:
    for q in [*QUESTIONS, "भारत की राजधानी क्या है?", "", "  spaced  out  "]:
        assert perturb_with_stats(q, kind, "heavy", seed=3, item_id="a", rate=0.0).text == q


@pytest.mark.parametrize("level", LEVELS)
def test_typo_rate_and_operations(level: str) -> None:
    res = perturb_with_stats(LONG, "typos", level, seed=7, item_id="rate")
    n = res.opportunities["letters"]
    k = sum(res.events.values())
    assert n > 3000
    assert _within(k, n, RATES["typos"][level])
    # drops are the only length change; nothing but ASCII letters is touched
    assert len(LONG) - len(res.text) == res.events["drop"]
    assert re.sub(r"[A-Za-z]", "", res.text) == re.sub(r"[A-Za-z]", "", LONG)
    # operation mix: substitution ~1/2 (plus swap fallbacks), drop ~1/4
    assert 0.15 <= res.events["drop"] / k <= 0.35
    assert res.events["substitute"] / k >= 0.4


@pytest.mark.parametrize("level", LEVELS)
def test_spacing_rate_and_letters_untouched(level: str) -> None:
    res = perturb_with_stats(LONG, "spacing", level, seed=7, item_id="rate")
    n = res.opportunities["spaces"] + res.opportunities["punctuation"]
    assert _within(sum(res.events.values()), n, RATES["spacing"][level])
    assert re.sub(r"[^\w]", "", res.text) == re.sub(r"[^\w]", "", LONG)
    spaces_removed = LONG.count(" ") - res.events["space_removed"]
    assert res.text.count(" ") >= spaces_removed + res.events["space_run"]


@pytest.mark.parametrize("level", LEVELS)
def test_confusable_rate_and_visible_lookalikes_only(level: str) -> None:
    res = perturb_with_stats(LONG, "confusables", level, seed=7, item_id="rate")
    n = res.opportunities["letters_with_lookalike"]
    k = res.events["homoglyph"]
    assert _within(k, n, RATES["confusables"][level])
    changed = [(a, b) for a, b in zip(LONG, res.text, strict=True) if a != b]  # one char for one char
    assert len(changed) <= k and len(changed) >= k * 0.8  # a few homoglyphs are ASCII (O <-> 0)
    for a, b in changed:
        assert b not in ZERO_WIDTH and not 0xFF01 <= ord(b) <= 0xFF5E  # visible, not fullwidth / invisible
        assert b in homoglyph_table()[a]
    # NFKC does not fold the homoglyphs back: the text stays visibly confusable
    assert unicodedata.normalize("NFKC", res.text) != LONG


@pytest.mark.parametrize("level", LEVELS)
def test_fullwidth_and_zero_width_are_their_own_kinds(level: str) -> None:
    fw = perturb_with_stats(LONG, "fullwidth", level, seed=7, item_id="rate")
    assert _within(fw.events["fullwidth"], fw.opportunities["alnum"], RATES["fullwidth"][level])
    assert sum(0xFF01 <= ord(c) <= 0xFF5E for c in fw.text) == fw.events["fullwidth"]
    assert unicodedata.normalize("NFKC", fw.text) == LONG  # NFKC folds fullwidth away
    zw = perturb_with_stats(LONG, "zero_width", level, seed=7, item_id="rate")
    assert _within(zw.events["zero_width"], zw.opportunities["alnum"], RATES["zero_width"][level])
    assert sum(c in ZERO_WIDTH for c in zw.text) == zw.events["zero_width"]
    assert "".join(c for c in zw.text if c not in ZERO_WIDTH) == LONG  # invisible insertions only


def test_no_unchanged_variant_for_any_item_and_seed() -> None:
    from llm_eval.items import load_noisy

    attempts = []
    for it in load_noisy().items:
        for seed in (0, 1, 2):
            for kind in KINDS:
                for level in LEVELS:
                    res = perturb_with_stats(it.question, kind, level, seed=seed, item_id=it.id)
                    assert res.text != it.question, (it.id, seed, kind, level)
                    attempts.append(res.attempts)
    assert max(attempts) < 100 and sum(a > 1 for a in attempts) > 0  # some were redrawn, none gave up


def test_redraw_is_deterministic_and_recorded_in_the_sample() -> None:
    from llm_eval.robustness import noisy

    q = "On which continent is Brazil?"  # 4 spaces, 1 mark: often unchanged at light spacing
    a = perturb_with_stats(q, "spacing", "light", seed=0, item_id="nz-017")
    b = perturb_with_stats(q, "spacing", "light", seed=0, item_id="nz-017")
    assert a == b and a.text != q
    sample = next(s for s in noisy("none", 0) if s.item_id == "nz-017" and s.condition == "spacing")
    assert sample.meta["perturb_attempts"] >= 1


@pytest.mark.parametrize("kind", ["typos", "spacing", "confusables", "mixed"])
def test_numerals_keep_their_value(kind: str) -> None:
    q = "In which year did World War II end, 1945 or 1939? Is 6.1 or 1,000 right?"
    for seed in range(20):
        out = perturb(q, kind, "heavy", seed=seed, item_id="num")
        plain = re.sub(r"\s+", " ", out)
        for numeral in ("II", "1945", "1939", "6.1", "1,000"):
            assert numeral in plain, (seed, out)


@pytest.mark.parametrize("level", LEVELS)
def test_emoji_rate_and_placement(level: str) -> None:
    res = perturb_with_stats(LONG, "emoji", level, seed=7, item_id="rate")
    assert res.opportunities["gaps"] == len(LONG.split()) + 1
    assert _within(res.events["emoji"], res.opportunities["gaps"], RATES["emoji"][level])
    words = res.text.split()
    assert sum(w in EMOJI for w in words) == res.events["emoji"]  # emoji stand alone between words
    assert [w for w in words if w not in EMOJI] == LONG.split()  # the words themselves are untouched


def test_mixed_applies_every_kind() -> None:
    res = perturb_with_stats(LONG, "mixed", "heavy", seed=0, item_id="m")
    for kind in MIXED_KINDS:
        assert sum(v for k, v in res.events.items() if k.startswith(kind + ".")) > 0, kind


def test_levels_are_ordered() -> None:
    for kind in NOISE_KINDS:
        assert 0 < RATES[kind]["light"] < RATES[kind]["heavy"] <= 1
    table = rates_table_markdown()
    assert "| typos | 5% | 15% |" in table and "| emoji | 15% | 50% |" in table


def test_homoglyphs_and_keyboard_tables() -> None:
    table = homoglyph_table()
    assert {"a", "e", "o", "p", "c"} <= set(table)
    for ch, glyphs in table.items():
        for g in glyphs:
            assert g != ch and unicodedata.normalize("NFKC", g) != ch
    nb = _qwerty_neighbours()
    assert set(nb["a"]) == set("qswz") and "s" in nb["d"]
    for k, vs in nb.items():  # adjacency is symmetric
        assert all(k in nb[v] for v in vs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "typo", "level": "light"}, "`kind` must be one of"),
        ({"kind": "typos", "level": "medium"}, "`level` must be one of"),
        ({"kind": "typos", "level": "light", "rate": 1.5}, r"`rate` must be in \[0, 1\], got 1.5"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        perturb_with_stats("x", seed=0, item_id="a", **kwargs)


def test_noisy_suite_pairs_variants_and_never_touches_gold() -> None:
    from llm_eval.items import load_noisy
    from llm_eval.robustness import noisy

    items = load_noisy().by_id()
    samples = noisy("both", 0)
    by_key = {}
    for s in samples:
        it = items[s.item_id]
        assert s.meta["gold"] == list(it.answers)  # gold never perturbed
        assert s.id == f"{s.item_id}|{s.condition}|{s.variant}|{s.meta['mitigation']}"
        text = s.request.messages[0]["content"]
        if s.condition == "clean":
            assert text == it.question
        else:
            assert text == perturb(it.question, s.condition, s.variant, seed=0, item_id=it.id)
        by_key.setdefault((s.item_id, s.condition, s.variant), {})[s.meta["mitigation"]] = text
    # before/after on the SAME perturbed inputs; every item has all 15 variants
    assert all(v["none"] == v["pin"] for v in by_key.values())
    assert len(by_key) == len(items) * (1 + len(KINDS) * len(LEVELS))


def test_readme_documents_the_levels_as_built() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert rates_table_markdown() in readme
