"""The closed sets the flows accept mirror the libraries' registries."""

from __future__ import annotations

import typing
from typing import Any

from flows import choices


def _values(tp: Any) -> list[str]:
    return list(typing.get_args(tp))


def test_the_choices_mirror_the_libraries_registries() -> None:
    """A profile, method or suite added to a library must be added here, or deployments refuse it."""
    from flatlora.bench.config import DEFAULT_PROFILE, METHODS, PROFILE_OVERRIDES, PROFILES
    from flatlora.bench.sanity import SanityConfig
    from llm_eval.grader import SCORERS
    from llm_eval.judge import JUDGE_CHOICES
    from llm_eval.providers import PROVIDERS
    from llm_eval.runner import RESUME_MODES
    from llm_eval.suites import ANSWER_FORMATS, MITIGATIONS, SUITES, get_suite

    get_suite("all")  # loads the suite plugins
    assert sorted(_values(choices.Profile)) == sorted(PROFILES) == sorted(PROFILE_OVERRIDES)
    assert DEFAULT_PROFILE in _values(choices.Profile)
    assert _values(choices.Method) == list(METHODS)
    assert _values(choices.SanityMethod) == list(SanityConfig().methods)
    assert sorted(_values(choices.Suite)) == sorted(SUITES)
    assert _values(choices.Provider) == list(PROVIDERS)
    assert _values(choices.Mitigation) == list(MITIGATIONS)
    assert _values(choices.Judge) == list(JUDGE_CHOICES)
    assert _values(choices.Scorer) == list(SCORERS)
    assert _values(choices.ResumeMode) == list(RESUME_MODES)
    assert _values(choices.AnswerFormat) == list(ANSWER_FORMATS)
