"""Batch scoring: a CSV or Parquet file of rows through the contract, the features and the promoted model.

The rows take the service's path (contract checks, `model_inputs`, `predict`), so a scored file
holds what the service would answer for each row. In a feature-store project a file holds the
contract's columns only: each row gets the feature views' values at its own time, through the
training join (`with_view_columns`). `score_frame` does it for one frame of rows and
is all a distributed variant needs to map over partitions; `score_file` reads a file in chunks,
writes the scored rows and the rejected ones (a row that breaks the contract, with the reason), and
replaces the output files only when the whole file is scored.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
from threadpoolctl import ThreadpoolController

from ..core.columns import Role
from ..core.contract import columns_with_role, contract_columns, view_columns
from ..core.errors import ProjectError
from ..core.featureset import model_inputs
from ..core.predict import predict
from ..core.validation import TYPE_CHECKS, DataContractError, check_rows, failure_wording, summarise_failures
from ..serving.api import class_labels
from ..serving.loading import ServedModel

SUFFIXES = (".csv", ".parquet")
CHUNK_ROWS = 200_000  # rows read, checked and predicted at a time: memory stays flat, progress shows per chunk
ROW = "row"  # the row's number in the input file, counting data rows from 1
REASON = "reason"
PREDICTION, MODEL_VERSION, RUN_ID = "prediction", "model_version", "run_id"
PROBABILITY_PREFIX = "probability_"
EXPLAIN_PREFIX = "explain_"  # `--explain k`: explain_1_column, explain_1_contribution, ... explain_base_value


class ScoringError(ProjectError):
    """The input, the output or the model cannot be used as given; the message says what to fix."""


@dataclass(frozen=True)
class ScoredRows:
    """One frame's answers (`ROW`, the identifier columns, predictions, version and run id) and its rejects."""

    scored: pd.DataFrame
    rejects: pd.DataFrame


@dataclass(frozen=True)
class ScoringSummary:
    """What a run did: counts, the model and run id, and where the rows went."""

    run_id: str
    model_version: str
    scored: int
    rejected: int
    output: Path
    rejects: Path
    seconds: float

    @classmethod
    def of_run(
        cls, run_id: str, model_version: str, scored: AtomicTable, rejected: AtomicTable, started: float
    ) -> ScoringSummary:
        """The summary of a run that started at `started` (`time.perf_counter`) and wrote these two files."""
        elapsed = time.perf_counter() - started
        return cls(run_id, model_version, scored.rows, rejected.rows, scored.path, rejected.path, elapsed)

    def explain(self) -> str:
        rate = (self.scored + self.rejected) / self.seconds if self.seconds else 0.0
        return (
            f"run {self.run_id}: scored {self.scored} rows, rejected {self.rejected}, with model {self.model_version} "
            f"in {self.seconds:.1f} s ({rate:,.0f} rows/s) -> {self.output}; rejects -> {self.rejects}"
        )


def new_run_id() -> str:
    """A run id that sorts by start time: `20260601T020000Z-3f9a1c`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def score_frame(rows: pd.DataFrame, served: ServedModel, run_id: str, explain: int = 0) -> ScoredRows:
    """Answer each row of `rows` (the contract's input columns, as read) that meets the contract; reject the others.

    `rows.index` holds the row numbers the output and the rejects carry; `explain` as in `answers`.
    """
    valid, reasons = contract_rows(rows)
    return ScoredRows(scored=answers(valid, served, run_id, explain), rejects=rejected_rows(rows, reasons))


def rejected_rows(rows: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The rows `reasons` names, with their number, their values as read and the reason."""
    return rows.loc[reasons.index].assign(**{REASON: reasons}).rename_axis(ROW).reset_index()


def contract_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The rows that meet the contract, typed by it, and the reason each other row breaks it (by row number).

    A value of the wrong type keeps pandera from checking its column's other values, so the rows
    left after a first pass are checked again until they all pass.
    """
    reasons: list[pd.Series] = []
    remaining = rows
    while True:
        valid, failures = check_rows(remaining, with_target=False)
        if failures.empty:
            break
        located = pd.to_numeric(failures["index"], errors="coerce").notna()
        if not located.any():  # failures of the whole table or column: no row to blame
            raise DataContractError(summarise_failures(failures))
        failing = pd.Index(failures.loc[located, "index"].astype(int).unique())
        reasons.append(_reasons(failures[located], failing))
        remaining = remaining.drop(index=failing)
    reason = pd.concat(reasons).sort_index() if reasons else pd.Series(dtype=str)
    return valid, reason


def _reasons(failures: pd.DataFrame, row_numbers: pd.Index) -> pd.Series:
    """One line per failing row: every column it breaks and how, e.g. `tenure_months: is below the minimum 0`."""
    by_name = {column.name: column for column in contract_columns(with_target=False)}
    numbers = failures["index"].astype(int)
    checks = failures["check"].astype(str)
    wrong_type = checks.str.startswith(TYPE_CHECKS)
    # A cell of the wrong type fails its type check (the reason) and, as missing, nullability too.
    typed_cells = set(zip(numbers[wrong_type], failures.loc[wrong_type, "column"], strict=True))
    lines: dict[int, list[str]] = {}
    for number, column, check in zip(numbers, failures["column"], checks, strict=True):
        if check == "not_nullable" and (number, column) in typed_cells:
            continue
        line = f"{column}: {_singular(failure_wording(by_name[column], check))}"
        if line not in lines.setdefault(number, []):
            lines[number].append(line)
    return pd.Series({number: "; ".join(lines[number]) for number in row_numbers}, dtype=str)


def _singular(wording: str) -> str:
    """A summary line's wording for one value: "are below the minimum 0" -> "is below the minimum 0"."""
    for plural, singular in (("are ", "is "), ("have ", "has "), ("do not ", "does not ")):
        if wording.startswith(plural):
            return singular + wording.removeprefix(plural)
    return wording


def answers(valid: pd.DataFrame, served: ServedModel, run_id: str, explain: int = 0) -> pd.DataFrame:
    """The model's answer for each valid row, beside its row number and identifiers.

    With `explain`, each row's `explain` largest feature contributions follow (`explanation_columns`).
    """
    identifiers = [column.name for column in columns_with_role(Role.IDENTIFIER)]
    scored = valid[identifiers].rename_axis(ROW).reset_index()
    labels = _class_labels(served.model)
    inputs = model_inputs(with_view_columns(valid)) if len(valid) else None
    if inputs is not None:
        predictions = predict(served.model, served.metadata, inputs)
        scored[PREDICTION] = predictions.values
        if predictions.probabilities is not None:
            for index, label in enumerate(labels):
                scored[PROBABILITY_PREFIX + label] = predictions.probabilities[:, index]
    else:
        scored[PREDICTION] = pd.Series(dtype=object)
        for label in labels:
            scored[PROBABILITY_PREFIX + label] = pd.Series(dtype="float64")
    if explain:
        scored = pd.concat([scored, explanation_columns(served, inputs, explain)], axis="columns")
    return scored.assign(**{MODEL_VERSION: served.version, RUN_ID: run_id})


def explanation_columns(served: ServedModel, inputs: pd.DataFrame | None, count: int) -> pd.DataFrame:
    """`explain_<n>_column` and `explain_<n>_contribution` for n = 1..`count` (largest first), and the base value.

    Contributions are in the model's raw output units (`core.explain`); a row with fewer explained
    columns than `count` has empty cells after its last one.
    """
    from ..core.explain import explain  # SHAP, where the family needs it, loads only when asked

    names = [f"{EXPLAIN_PREFIX}{rank}_{part}" for rank in range(1, count + 1) for part in ("column", "contribution")]
    base_name = f"{EXPLAIN_PREFIX}base_value"
    if inputs is None:
        empty = {name: pd.Series(dtype=object if name.endswith("_column") else "float64") for name in names}
        return pd.DataFrame({**empty, base_name: pd.Series(dtype="float64")})
    contributions = explain(served.model, inputs)
    cells = [
        [cell for name, value in contributions.top(row, count) for cell in (name, value)] for row in range(len(inputs))
    ]
    table = pd.DataFrame(cells, columns=names[: len(cells[0])]).reindex(columns=names)
    return table.assign(**{base_name: contributions.base_values})


def with_view_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with the feature views' columns as they were at each row's time (`feature_views.py`), as training
    joined them; the rows as they are in a project without feature views."""
    if not view_columns():
        return rows
    from ..featurestore.offline import with_history  # Feast's import costs seconds: only projects with views pay it

    return with_history(rows)


def _class_labels(model: Any) -> list[str]:
    """The classes as the service's answers name their probabilities; none for a regression."""
    if not hasattr(model, "predict_proba"):
        return []
    return class_labels(model.classes_)


def input_format(path: str) -> str:
    """`csv` or `parquet`, from the file's suffix; a clear error for anything else."""
    suffix = Path(path.split("?", 1)[0]).suffix.lower()
    if suffix not in SUFFIXES:
        raise ScoringError(f"{path}: cannot tell the format from the suffix {suffix!r}: use a .csv or .parquet file")
    return suffix.removeprefix(".")


def read_chunks(source: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The input's contract columns in chunks, indexed by row number; CSV cells as text, as `validate` reads them."""
    try:
        if input_format(source) == "csv":
            with pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=chunk_rows) as reader:
                yield from _numbered(reader, source)
        else:
            whole = pd.read_parquet(source)
            yield from _numbered(
                (whole.iloc[start : start + chunk_rows] for start in range(0, max(len(whole), 1), chunk_rows)), source
            )
    except FileNotFoundError:
        raise ScoringError(f"{source}: no such file: give the path or URL of a .csv or .parquet file") from None
    except pd.errors.EmptyDataError:
        raise ScoringError(f"{source}: the file is empty: it needs a header with the contract's columns") from None
    except ImportError as error:
        raise ScoringError(f"{source}: cannot read it here ({error}): install what it names with `uv add`") from None


def _numbered(chunks: Iterator[pd.DataFrame], source: str) -> Iterator[pd.DataFrame]:
    """Each chunk's contract columns, indexed by row number from 1; an error naming any missing column."""
    names = [column.name for column in contract_columns(with_target=False)]
    start = 1
    for chunk in chunks:
        missing = [name for name in names if name not in chunk.columns]
        if missing:
            listed = ", ".join(repr(name) for name in missing)
            raise ScoringError(f"{source}: the contract's columns {listed} are missing: add them to the file")
        yield chunk[names].set_axis(pd.RangeIndex(start, start + len(chunk)), axis="index")
        start += len(chunk)


class AtomicTable:
    """A CSV or Parquet file written chunk by chunk under a temporary name, renamed into place by `commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = input_format(str(path))
        self.temporary = path.with_name(f".{path.name}.partial")
        self.writer: Any = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif frame.empty:
            return
        if self.format == "csv":
            frame.to_csv(
                self.temporary, mode="w" if self.writer is None else "a", header=self.writer is None, index=False
            )
            self.writer = True
        else:
            self._write_parquet(frame)
        self.rows += len(frame)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is not None and self.rows == 0 and len(frame):  # only an empty frame so far: start again
            self.writer.close()
            self.writer = None
        table = pa.Table.from_pandas(frame, preserve_index=False, schema=None if self.writer is None else self.schema)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.temporary, self.schema)
        self.writer.write_table(table)

    def commit(self) -> None:
        """Close the file and move it into place."""
        if self.format == "parquet" and self.writer is not None:
            self.writer.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        """Close and delete the temporary file: a failed run leaves the previous output as it was."""
        if self.format == "parquet" and self.writer is not None:
            self.writer.close()
        self.temporary.unlink(missing_ok=True)


@contextmanager
def run_outputs(output: Path, rejects: Path) -> Iterator[tuple[AtomicTable, AtomicTable]]:
    """A run's scored rows and rejects, committed together when the block completes, both discarded if it fails."""
    scored, rejected = AtomicTable(output), AtomicTable(rejects)
    try:
        yield scored, rejected
        scored.commit()
        rejected.commit()
    except BaseException:
        scored.discard()
        rejected.discard()
        raise


def read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """`items`, each next one produced in a second thread while the caller works on the current one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(next, items, None)
        try:
            while (item := upcoming.result()) is not None:
                upcoming = pool.submit(next, items, None)
                yield item
        finally:  # the caller stopped early: let the thread finish its item, then close the input
            wait([upcoming])
            if isinstance(items, Generator):
                items.close()


def rejects_path(output: Path) -> Path:
    """Where the rejected rows go by default: beside the output, `scores.parquet` -> `scores.rejects.csv`."""
    return output.with_name(f"{output.stem}.rejects.csv")


def score_file(
    source: str,
    output: Path,
    served: ServedModel,
    *,
    rejects: Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: TextIO | None = sys.stderr,
    explain: int = 0,
) -> ScoringSummary:
    """Score every row of `source` into `output` (CSV or Parquet, by its suffix) and the rejects file (CSV).

    With `explain`, each scored row also gets its `explain` largest feature contributions (`answers`).

    Progress goes to `progress` after each chunk when the file holds more than one: counts only, no values.
    While the model predicts one chunk on one OpenMP thread, a second thread reads and checks the next
    (`score_frame`'s two halves): on two cores each keeps one busy.
    """
    run_id, started = new_run_id(), time.perf_counter()
    rejects = rejects or rejects_path(output)
    if rejects.suffix.lower() != ".csv":
        raise ScoringError(f"{rejects}: the rejects file is written as CSV: give it a .csv name")
    checked = ((chunk, *contract_rows(chunk)) for chunk in read_chunks(source, chunk_rows))
    with (
        run_outputs(output, rejects) as (scored, rejected),
        closing(read_ahead(checked)) as chunks,
        ThreadpoolController().limit(limits=1, user_api="openmp"),
    ):
        for number, (chunk, valid, reasons) in enumerate(chunks, start=1):
            scored.write(answers(valid, served, run_id, explain))
            rejected.write(rejected_rows(chunk, reasons))
            if progress is not None and (number > 1 or len(chunk) == chunk_rows):
                rate = (scored.rows + rejected.rows) / (time.perf_counter() - started)
                print(f"{scored.rows} rows scored, {rejected.rows} rejected ({rate:,.0f} rows/s)", file=progress)
        if scored.rows + rejected.rows == 0:
            raise ScoringError(f"{source}: the file has a header but no rows")
    return ScoringSummary.of_run(run_id, served.version, scored, rejected, started)
