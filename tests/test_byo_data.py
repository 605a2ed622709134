"""Slow tier: bringing your own data takes a new CSV file and a new contract, nothing else.

Follows docs/bring-your-own-data.md on the default variant: a loan-default table whose columns
share nothing with the sample data replaces `data/raw/sample.csv` (`params.yaml` `data.raw`
names it), `COLUMNS` and `TARGET` in `contract.py` describe it, and the pipeline and the
project's own tests pass unchanged. The file is written as other tools write one: missing
numbers spelled as an empty cell, `NaN`, `None` or `null`, and a purpose category that is
literally `NA`. The validated rows keep every missing value and every `NA`, and the model's
lineage holds the md5 of the bytes the validate stage read.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.projects import project_env
from tools.variants import render, variants_tagged

pytestmark = pytest.mark.slow

SAMPLE_DATA = "data/raw/sample.csv"
RAW_DATA = "data/raw/loans.csv"

# What a user writes in place of the sample contract: every role, a nullable whole number,
# and a column that accepts categories it has not seen.
CONTRACT = """\
COLUMNS: tuple[Column, ...] = (
    Column("loan_id", Role.IDENTIFIER, str, "Loan application id", "L200001", pattern=r"^L\\d+$", max_length=16),
    Column("applied_on", Role.TIMESTAMP, datetime, "Day the application arrived", "2024-03-01"),
    Column("branch", Role.SEGMENT, str, "Kind of branch", "city", categories=("city", "suburb", "rural")),
    Column(
        "purpose",
        Role.CATEGORICAL,
        str,
        "What the loan is for",
        "car",
        categories=("car", "home", "education", "business", "NA"),
        unseen_categories=UnseenCategories.ENCODE_AS_UNKNOWN,
    ),
    Column(
        "employment",
        Role.CATEGORICAL,
        str,
        "Employment status",
        "salaried",
        categories=("salaried", "self_employed", "unemployed"),
    ),
    Column("amount", Role.NUMERIC, float, "Amount applied for", 12_000.0, minimum=100, maximum=1_000_000),
    Column("term_months", Role.NUMERIC, int, "Repayment term, months", 36, minimum=1, maximum=360),
    Column("annual_income", Role.NUMERIC, float, "Declared annual income", 52_000.0, minimum=0, maximum=10_000_000),
    Column("credit_score", Role.NUMERIC, int, "Bureau credit score", 680, minimum=300, maximum=850),
    Column(
        "months_since_delinquency",
        Role.NUMERIC,
        int,
        "Months since the last missed payment; empty if none",
        14,
        minimum=0,
        maximum=1_200,
        nullable=True,
    ),
)

TARGET = Column("defaulted", Role.TARGET, int, "1 if the loan defaulted within a year", 0, minimum=0, maximum=1)
"""

# Read in the project's environment (the validated rows are Parquet): missing months and "NA" purposes.
VALIDATED_COUNTS = """
import json
import pandas as pd
rows = pd.read_parquet("data/validated/rows.parquet")
missing, na = rows["months_since_delinquency"].isna().sum(), (rows["purpose"] == "NA").sum()
print(json.dumps({"missing": int(missing), "NA": int(na)}))
"""


def loan_applications(count: int = 600, seed: int = 20240601) -> pd.DataFrame:
    """A synthetic loan book: default risk rises with a low credit score, a high loan-to-income
    ratio, unemployment and business loans, so a model has something to learn."""
    rng = np.random.default_rng(seed)
    credit_score = rng.integers(300, 851, size=count)
    annual_income = rng.lognormal(mean=10.8, sigma=0.4, size=count).round(2)
    amount = rng.uniform(1_000, 40_000, size=count).round(2)
    employment = rng.choice(["salaried", "self_employed", "unemployed"], size=count, p=[0.6, 0.3, 0.1])
    purpose = rng.choice(["car", "home", "education", "business", "NA"], size=count)
    delinquency = pd.array(rng.integers(0, 120, size=count), dtype="Int64")
    delinquency[rng.random(count) < 0.4] = pd.NA
    risk = (
        (600 - credit_score) / 60
        + 4 * (amount / annual_income - 0.35)
        + 2 * (employment == "unemployed")
        + 0.8 * (purpose == "business")
        - 1
    )
    return pd.DataFrame(
        {
            "loan_id": [f"L{200_000 + number}" for number in range(count)],
            "applied_on": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, size=count), unit="D"),
            "branch": rng.choice(["city", "suburb", "rural"], size=count),
            "purpose": purpose,
            "employment": employment,
            "amount": amount,
            "term_months": rng.choice([12, 24, 36, 48, 60], size=count),
            "annual_income": annual_income,
            "credit_score": credit_score,
            "months_since_delinquency": delinquency,
            "defaulted": (rng.random(count) < 1 / (1 + np.exp(-risk))).astype(int),
        }
    )


# How other tools write a missing number: pandas an empty cell, NumPy "NaN", Python "None", JSON "null".
MISSING_SPELLINGS = ("", "NaN", "None", "null")


def write_as_other_tools_do(rows: pd.DataFrame, path: Path, column: str) -> None:
    """Write `rows` as CSV with the missing values of `column` spelled in each way in turn."""
    spellings = itertools.cycle(MISSING_SPELLINGS)
    text = rows[column].astype("string").map(lambda value: next(spellings) if pd.isna(value) else value)
    rows.assign(**{column: text}).to_csv(path, index=False)


def assigned_name(statement: ast.stmt) -> str | None:
    """The name a module-level `name = ...` or `name: type = ...` statement assigns."""
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id
    if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    return None


def replace_contract(contract_path: Path, contract: str) -> None:
    """Put `contract` where `COLUMNS` and `TARGET` were and bump `SCHEMA_VERSION`, as a user would."""
    source = contract_path.read_text(encoding="utf-8")
    assert source.count('SCHEMA_VERSION = "1"') == 1
    source = source.replace('SCHEMA_VERSION = "1"', 'SCHEMA_VERSION = "2"')
    imported = "from .core.columns import Column, Role\n"
    assert source.count(imported) == 1
    source = source.replace(imported, "from .core.columns import Column, Role, UnseenCategories\n")
    assigned = [statement for statement in ast.parse(source).body if assigned_name(statement) in {"COLUMNS", "TARGET"}]
    assert [assigned_name(statement) for statement in assigned] == ["COLUMNS", "TARGET"]
    lines = source.splitlines(keepends=True)
    before, after = lines[: assigned[0].lineno - 1], lines[assigned[-1].end_lineno :]
    contract_path.write_text("".join(before) + contract + "".join(after), encoding="utf-8")


def run(root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the project; a non-zero exit fails the test with the command's output."""
    result = subprocess.run(command, cwd=root, env=project_env(os.environ), capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def changed_files(root: Path) -> set[str]:
    """What `git status` shows: each changed path with its two-letter status."""
    result = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    return {line.strip() for line in result.stdout.splitlines()}


def point_params_at(root: Path, raw_data: str) -> None:
    """Set `data.raw` in params.yaml, editing the one line a user would."""
    params = root / "params.yaml"
    source = params.read_text(encoding="utf-8")
    assert source.count(f"raw: {SAMPLE_DATA}") == 1
    params.write_text(source.replace(f"raw: {SAMPLE_DATA}", f"raw: {raw_data}"), encoding="utf-8")


def test_own_data_needs_only_a_new_file_and_a_new_contract(tmp_path: Path) -> None:
    root = tmp_path / "project"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DirtyLocalWarning: rendering uncommitted work is the point
        package = render(variants_tagged("default")[0], root)["package_name"]
    run(root, "git", "init", "-q", "-b", "main")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "Start from Shipshape")
    run(root, "uv", "sync", "--frozen")

    loans = loan_applications()
    write_as_other_tools_do(loans, root / RAW_DATA, "months_since_delinquency")
    point_params_at(root, RAW_DATA)
    contract = f"src/{package}/contract.py"
    replace_contract(root / contract, CONTRACT)
    run(root, "uv", "run", "--frozen", "dvc", "add", RAW_DATA)
    run(root, "git", "rm", "-q", f"{SAMPLE_DATA}.dvc")
    (root / SAMPLE_DATA).unlink()
    assert changed_files(root) == {
        f"?? {RAW_DATA}.dvc",
        "M data/raw/.gitignore",
        f"D  {SAMPLE_DATA}.dvc",
        "M params.yaml",
        f"M {contract}",
    }

    run(root, "uv", "run", "--frozen", "ruff", "check", contract)
    run(root, "uv", "run", "--frozen", "ruff", "format", "--check", contract)
    run(root, "uv", "run", "--frozen", "dvc", "repro")
    validated = json.loads(run(root, "uv", "run", "--frozen", "python", "-c", VALIDATED_COUNTS).stdout)
    assert validated["missing"] == loans["months_since_delinquency"].isna().sum()
    assert validated["NA"] == (loans["purpose"] == "NA").sum() > 0
    data = json.loads((root / "models/candidate/model.json").read_text())["data"]
    md5 = hashlib.md5((root / RAW_DATA).read_bytes()).hexdigest()  # noqa: S324 - DVC's content hash
    assert (data["path"], data["md5"], data["dvc_md5"]) == (RAW_DATA, md5, md5)
    run(root, "uv", "run", "--frozen", "pytest", "-q", "-p", "no:cacheprovider")
