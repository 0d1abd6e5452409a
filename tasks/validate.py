"""Prefect task around dataset validation (``flatlora.bench.validation.validate_dataset``)."""

from __future__ import annotations

from typing import Any

from prefect import task

from tasks.train import retry_transient


def validate_dataset_dict(
    dataset: str,
    data_dir: str | None = None,
    split_seed: int = 0,
    text_col: str = "text",
    label_col: str = "label",
    text_pair_col: str | None = None,
    card: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    val_from_train: float | None = None,
    merge_label_spellings: bool = False,
) -> dict[str, Any]:
    """Validation report as a dict; raises ValidationFailed (not retried) when the data is unusable."""
    from flatlora.bench.validation import validate_dataset

    report, _ = validate_dataset(
        dataset,
        data_dir=data_dir,
        text_col=text_col,
        label_col=label_col,
        split_seed=split_seed,
        raise_on_failure=True,
        text_pair_col=text_pair_col,
        card=card,
        delimiter=delimiter,
        encoding=encoding,
        val_from_train=val_from_train,
        merge_label_spellings=merge_label_spellings,
    )
    return report.to_dict()


@task(
    name="validate-dataset", task_run_name="validate {dataset}", retries=1, retry_condition_fn=retry_transient
)
def validate_task(
    dataset: str,
    data_dir: str | None = None,
    split_seed: int = 0,
    text_col: str = "text",
    label_col: str = "label",
    text_pair_col: str | None = None,
    card: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    val_from_train: float | None = None,
    merge_label_spellings: bool = False,
) -> dict[str, Any]:
    return validate_dataset_dict(
        dataset,
        data_dir,
        split_seed,
        text_col,
        label_col,
        text_pair_col,
        card,
        delimiter,
        encoding,
        val_from_train,
        merge_label_spellings,
    )
