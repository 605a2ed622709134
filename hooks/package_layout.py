"""Bring a project from the flat package (release 0.1.x) to the package by concern (0.2.0).

Release 0.2.0 moves the platform modules of `src/<package>/` into subpackages (`core/`,
`pipeline/`, `serving/`, ...), splits the team's `schema.py` into `contract.py` (the team's
declarations) and template-owned `core/` modules (the machinery), and makes `features.py` and
`estimator.py` the team's. Copier alone would lose work here: it deletes every file only the
old release had, edited or not, and never writes a team-owned (`_skip_if_exists`) file that
exists. Run as a `before` migration, this prepares the project so that the update keeps every
edit or shows it as a conflict:

- `schema.py`: the team's declarations (`SCHEMA_VERSION`, `COLUMNS`, `TARGET`, and anything
  the team added), with the imports they use, become `contract.py`; the machinery is left to
  the release's `core/`. If the team edited the machinery itself, it stops and says what to
  move where: that code has no place in a declarations-only file.
- an old platform module the team edited moves to its new path, with the release's changes
  merged in (git merge-file against the old release's copy), so the update marks exactly the
  team's lines as a conflict; where the release changed the same lines, the team's whole file
  moves and the update shows it beside the new one. Unedited modules are left to copier.
- `features.py`, `estimator.py` (the team's from now on): unedited ones give way to the
  release's version; edited ones keep the edits, merged three ways into the release's version
  with conflict markers where both changed (the generated CI's leftover check finds them).
- `params.yaml`: keys this release's pipeline needs are added with the values an old project
  had (its data stays at `data/raw/customers.csv`); the team's values are not touched.
- any other file this release removes: if the team edited it, it stops and names it.

It compares the project's files with the release it was generated from, read from the
template's git history (`git show <old commit>:template/...`, old `.jinja` files rendered
with the project's answers), so it needs nothing but git and the template clone copier made.
All checks come first: when it stops, it has changed nothing. Every change is staged (copier
diffs the index). Idempotent: on a project already in the new layout it does nothing, and
says so.

Usage (copier runs it in the project folder; by hand: `python hooks/package_layout.py [OLD_REF]`).
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
SUBDIRECTORY = "template"
PACKAGE_DIR = "src/{{package_name}}"
ANSWERS_FILE = ".copier-answers.yml"
JINJA_SUFFIX = ".jinja"

# Old flat module -> its path in this release, inside the package (all template-owned).
MOVED_MODULES = {
    "api.py": "serving/api.py",
    "artifacts.py": "registry/artifacts.py",
    "batching.py": "serving/batching.py",
    "data.py": "pipeline/validate.py",
    "drift.py": "monitoring/drift.py",
    "encoding.py": "core/encoding.py",
    "errors.py": "core/errors.py",
    "evaluate.py": "pipeline/evaluate.py",
    "evidently_report.py": "monitoring/evidently_report.py",
    "gate.py": "pipeline/gate.py",
    "metrics.py": "core/metrics.py",
    "middleware.py": "serving/middleware.py",
    "monitor.py": "monitoring/monitor.py",
    "monitor_report.py": "monitoring/report.py",
    "observability.py": "telemetry/observability.py",
    "plots.py": "pipeline/plots.py",
    "predict.py": "core/predict.py",
    "prediction_log.py": "telemetry/prediction_log.py",
    "profile.py": "monitoring/profile.py",
    "readiness.py": "governance/readiness.py",
    "registry.py": "registry/store.py",
    "service.py": "serving/service.py",
    "serving.py": "serving/loading.py",
    "shadow.py": "serving/shadow.py",
    "split.py": "pipeline/split.py",
    "tracking.py": "pipeline/tracking.py",
    "train.py": "pipeline/train.py",
    "versions.py": "registry/versions.py",
}
# Old path -> new path of other template-owned files this release renames (project-relative).
MOVED_FILES = {"tests/test_schema.py": "tests/test_contract.py"}
# Template-owned in the old release, the team's (`_skip_if_exists`) from this one.
NOW_TEAM_OWNED = ("features.py", "estimator.py")

OLD_SCHEMA, CONTRACT = "schema.py", "contract.py"
DECLARATIONS = ("SCHEMA_VERSION", "COLUMNS", "TARGET")
# Where each definition of the old schema.py lives now, for the imports a declaration needs.
SCHEMA_NAMES = {
    **dict.fromkeys(
        ["Column", "Role", "UnseenCategories", "UNSEEN_CATEGORY_MAX_LENGTH", "PANDAS_DTYPES", "pandas_dtype"],
        "core.columns",
    ),
    **dict.fromkeys(["columns_with_role", "contract_columns"], "core.contract"),
    **dict.fromkeys(
        ["data_schema", "validate", "read_csv", "DataContractError", "EXAMPLES_PER_LINE", "EXAMPLE_CHARACTERS"],
        "core.validation",
    ),
    **dict.fromkeys(["frame_from_records", "request_model", "EARLIEST_TIMESTAMP", "LATEST_TIMESTAMP"], "core.requests"),
}

# Keys this release's params.yaml has that an old one lacks and no code can default (dvc.yaml
# interpolates them), with the value an old project needs.
PARAMS_ADDED = {("data", "raw"): "data/raw/customers.csv"}
PARAMS_NOTE = "# Added by the Shipshape 0.2.0 update: the raw data file the pipeline reads."

MERGE_LABELS = ("yours (before updating)", "as the old release shipped it", "this release (after updating)")


class MigrationError(Exception):
    """The migration cannot proceed without the team's decision; the message says what to do."""


# ─── Reading the project, the old release and the new one ───────────────────────────────────


def git(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False)


def read_answers(project: Path) -> dict:
    path = project / ANSWERS_FILE
    if not path.is_file():
        raise MigrationError(f"{path} is missing: run this migration from the generated project's folder")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def render(text: str, answers: dict) -> str | None:
    """`text` rendered as copier would with the project's answers, or None if it needs more than them."""
    import jinja2  # copier's own dependency: present in the interpreter that runs migrations

    # Python and YAML sources, not HTML: no autoescape, as copier renders them.
    environment = jinja2.Environment(  # noqa: S701
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    try:
        return environment.from_string(text).render(**answers)
    except Exception:  # undefined answers, includes, copier's own filters: we cannot tell
        return None


@dataclass
class Release:
    """One release of the template: its files by the path they render to in this project."""

    files: dict[str, str]  # project-relative path -> template path (relative to the template subdirectory)
    read_template: Callable[[str], str | None]  # template path -> raw text, None if absent
    answers: dict

    def text(self, project_path: str) -> str | None:
        """The file as this release renders it for the project; None if absent or not renderable."""
        source = self.files.get(project_path)
        if source is None:
            return None
        raw = self.read_template(source)
        if raw is None or not source.endswith(JINJA_SUFFIX):
            return raw
        return render(raw, self.answers)


def rendered_path(template_path: str, answers: dict) -> str | None:
    """Where copier writes `template_path` (segments rendered); None for a name that renders empty."""
    parts = []
    for segment in template_path.split("/"):
        name = render(segment, answers) if "{" in segment else segment
        if not name:
            return None
        parts.append(name)
    path = "/".join(parts)
    return path.removesuffix(JINJA_SUFFIX)


def release_at(root: Path, ref: str | None, answers: dict) -> Release:
    """The template at git `ref` of `root` (None: the files on disk, i.e. the release running this)."""
    if ref is None:
        base = root / SUBDIRECTORY
        names = [path.relative_to(base).as_posix() for path in base.rglob("*") if path.is_file()]

        def read(name: str) -> str | None:
            path = base / name
            return path.read_text(encoding="utf-8") if path.is_file() else None

    else:
        listing = git(root, "ls-tree", "-r", "--name-only", f"{ref}:{SUBDIRECTORY}")
        if listing.returncode != 0:
            raise MigrationError(
                f"cannot read the template's release {ref} from {root}: {listing.stderr.strip()}. "
                "Update from a clone of the template with its history (not a shallow copy)"
            )
        names = listing.stdout.splitlines()

        def read(name: str) -> str | None:
            shown = git(root, "show", f"{ref}:{SUBDIRECTORY}/{name}")
            return shown.stdout if shown.returncode == 0 else None

    files = {}
    for name in names:
        target = rendered_path(name, answers)
        if target is not None and "{{" not in target and "{%" not in target:
            files[target] = name
    return Release(files, read, answers)


def excluded_on_update(template_root: Path) -> Callable[[str], bool]:
    """Whether copier leaves a path alone on update (this release's `_exclude`, rendered for an update)."""
    import pathspec  # copier's own dependency, like jinja2

    settings = yaml.safe_load((template_root / "copier.yml").read_text(encoding="utf-8")) or {}
    answers = {"_copier_operation": "update"}
    patterns = [render(str(entry), answers) or "" for entry in settings.get("_exclude", [])]
    spec = pathspec.GitIgnoreSpec.from_lines([pattern for pattern in patterns if pattern.strip()])
    return spec.match_file


def old_ref(project: Path, answers: dict) -> str:
    """The template commit the project was last generated or updated from."""
    ref = os.environ.get("VERSION_FROM") or answers.get("_commit")
    if not ref:
        raise MigrationError(f"{ANSWERS_FILE} records no `_commit`: cannot tell which release the project is at")
    return str(ref)


def merge(ours: str, base: str, theirs: str) -> tuple[str, bool]:
    """Three-way merge of texts with git merge-file; returns the result and whether it has conflicts."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, text in [("ours", ours), ("base", base), ("theirs", theirs)]:
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        labels = [argument for label in MERGE_LABELS for argument in ("-L", label)]
        result = subprocess.run(
            ["git", "merge-file", "-p", "--diff3", *labels, *paths], capture_output=True, text=True, check=False
        )
    if result.returncode < 0 or result.returncode > 127:
        raise MigrationError(f"git merge-file failed: {result.stderr.strip()}")
    return result.stdout, result.returncode > 0


# ─── schema.py -> contract.py ────────────────────────────────────────────────────────────────


@dataclass
class Statement:
    names: tuple[str, ...]
    kind: str  # "docstring", "import", "future", "definition"
    text: str  # source lines, with the comment lines right above it
    node: ast.stmt


def statements(source: str) -> list[Statement]:
    """Top-level statements of a module, each with its source and the comment block just above it."""
    lines = source.splitlines(keepends=True)
    found = []
    tree = ast.parse(source)
    for index, node in enumerate(tree.body):
        start = min([node.lineno, *(decorator.lineno for decorator in getattr(node, "decorator_list", []))]) - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        text = "".join(lines[start : node.end_lineno])
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.append(Statement(("__doc__",), "docstring", text, node))
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            found.append(Statement((), "future", text, node))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found.append(Statement(tuple(alias.asname or alias.name for alias in node.names), "import", text, node))
        else:
            found.append(Statement(tuple(defined_names(node)), "definition", text, node))
    return found


def defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    nodes = [node for target in targets if target is not None for node in ast.walk(target)]
    return [name.id for name in nodes if isinstance(name, ast.Name)]


def used_names(nodes: Iterable[ast.stmt]) -> set[str]:
    return {name.id for node in nodes for name in ast.walk(node) if isinstance(name, ast.Name)}


def normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


@dataclass
class ContractSplit:
    """What becomes of the team's schema.py."""

    contract: str | None  # the new contract.py, or None when the declarations are the release's own
    kept: list[str] = field(default_factory=list)  # names of the declarations kept


def relative_import(node: ast.ImportFrom, names: list[str]) -> str:
    """A `from .x import a` of the old flat package, pointing where `x` lives in this release."""
    module = node.module or ""
    moved = MOVED_MODULES.get(f"{module}.py", f"{module}.py").removesuffix(".py").replace("/", ".")
    return f"from .{moved} import {', '.join(names)}"


def import_line(node: ast.Import | ast.ImportFrom, used: set[str]) -> str | None:
    """The import statement narrowed to the names the declarations use (None if they use none)."""
    aliases = [alias for alias in node.names if (alias.asname or alias.name).split(".")[0] in used]
    if not aliases:
        return None
    spelled = [alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in aliases]
    if isinstance(node, ast.Import):
        return f"import {', '.join(spelled)}"
    if node.level:
        return relative_import(node, spelled)
    return f"from {node.module} import {', '.join(spelled)}"


def split_schema(team: str, shipped: str, new_contract: str, where: str) -> ContractSplit:
    """Separate the team's declarations in `team` (their schema.py) from the machinery `shipped` had.

    Raises MigrationError when the team edited the machinery: it belongs in no declarations file.
    """
    ours, theirs = statements(team), statements(shipped)
    shipped_text = {name: statement.text for statement in theirs for name in statement.names}
    docstring = next((statement for statement in ours if statement.kind == "docstring"), None)
    shipped_docstring = next((statement for statement in theirs if statement.kind == "docstring"), None)
    kept, imports, edited = [], [], []
    for statement in ours:
        if statement.kind == "import":
            imports.append(statement)
        elif statement.kind == "definition":
            is_declaration = any(name in DECLARATIONS for name in statement.names)
            is_new = not any(name in shipped_text for name in statement.names)
            if is_declaration or is_new:
                kept.append(statement)
            elif any(normalised(statement.text) != normalised(shipped_text[name]) for name in statement.names):
                edited += statement.names
    if edited:
        homes = ", ".join(f"{name} (now in {SCHEMA_NAMES.get(name, 'core')})" for name in edited)
        raise MigrationError(
            f"you edited the platform part of {where}: {homes}. This release keeps only your declarations "
            f"(SCHEMA_VERSION, COLUMNS, TARGET) in {CONTRACT} and ships that code in the template-owned "
            "core/ modules. Move your change into a module of your own (or drop it), restore the rest of "
            f"{where} as released, commit, and run `copier update` again"
        )
    shipped_kept = [statement for statement in theirs if any(name in DECLARATIONS for name in statement.names)]
    docstring_edited = normalised(docstring.text if docstring else "") != normalised(
        shipped_docstring.text if shipped_docstring else ""
    )
    if not docstring_edited and [normalised(s.text) for s in kept] == [normalised(s.text) for s in shipped_kept]:
        return ContractSplit(None, [name for statement in kept for name in statement.names])

    defined = {name for statement in kept for name in statement.names}
    needed = used_names(statement.node for statement in kept) - defined
    absolute, relative = [], []
    imported: set[str] = set()
    for statement in imports:
        line = import_line(statement.node, needed)  # type: ignore[arg-type]
        if line:
            (relative if line.startswith("from .") else absolute).append(line)
            imported |= {name.split(".")[0] for name in statement.names}
    from_old_schema = sorted(name for name in needed - imported if name in SCHEMA_NAMES)
    by_module: dict[str, list[str]] = {}
    for name in from_old_schema:
        by_module.setdefault(SCHEMA_NAMES[name], []).append(name)
    relative += [f"from .{module} import {', '.join(names)}" for module, names in sorted(by_module.items())]
    missing = sorted(needed - imported - set(from_old_schema) - set(dir(builtins)))
    if missing:
        raise MigrationError(
            f"your declarations in {where} use {', '.join(missing)}, which this release no longer provides. "
            "Define them beside your declarations or drop them, commit, and run `copier update` again"
        )
    header = docstring.text if docstring_edited and docstring else statements(new_contract)[0].text
    parts = [header.rstrip("\n") + "\n", "from __future__ import annotations\n"]
    parts += ["\n".join(block) + "\n" for block in (absolute, sorted(relative)) if block]
    body = ""
    for index, statement in enumerate(kept):
        if index:
            is_def = isinstance(statement.node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
            previous_def = isinstance(kept[index - 1].node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
            body += "\n\n" if is_def or previous_def else "\n"
        body += statement.text
    text = "\n".join(parts) + "\n" + body
    return ContractSplit(text, [name for statement in kept for name in statement.names])


# ─── params.yaml keys ────────────────────────────────────────────────────────────────────────


def with_added_keys(text: str, added: dict[tuple[str, str], str]) -> tuple[str, list[str]]:
    """`text` (a YAML mapping) with each missing `section.key` added; the team's lines untouched."""
    data = yaml.safe_load(text) or {}
    names = []
    for (section, key), value in added.items():
        current = data.get(section)
        if isinstance(current, dict) and key in current:
            continue
        if current is not None and not isinstance(current, dict):
            raise MigrationError(f"`{section}` in params.yaml is not a mapping: add `{section}.{key}: {value}` by hand")
        line = f"{key}: {value}"
        if current is None:
            text = text.rstrip("\n") + f"\n\n{PARAMS_NOTE}\n{section}:\n  {line}\n"
        else:
            header = re.search(rf"^{re.escape(section)}:[ \t]*(#.*)?\n", text, flags=re.MULTILINE)
            if header is None:
                raise MigrationError(f"cannot find the `{section}:` line in params.yaml: add `{section}.{key}` by hand")
            following = re.search(r"^([ \t]+)[^\s#]", text[header.end() :], flags=re.MULTILINE)
            indent = following.group(1) if following else "  "
            text = text[: header.end()] + f"{indent}{line}  {PARAMS_NOTE}\n" + text[header.end() :]
        data = yaml.safe_load(text)
        names.append(f"{section}.{key}: {value}")
    return text, names


# ─── The plan, checked in full before anything changes ───────────────────────────────────────


@dataclass
class Plan:
    writes: dict[str, str] = field(default_factory=dict)  # path -> new text (staged)
    removals: list[str] = field(default_factory=list)  # paths to `git rm`
    moves: list[tuple[str, str]] = field(default_factory=list)  # `git mv` old new
    messages: list[str] = field(default_factory=list)


def plan_migration(project: Path, old: Release, new: Release, package: str, excluded: Callable[[str], bool]) -> Plan:
    plan, blockers = Plan(), []
    pkg = f"src/{package}"

    def team_text(path: str) -> str | None:
        file = project / path
        return file.read_text(encoding="utf-8") if file.is_file() else None

    schema_path, contract_path = f"{pkg}/{OLD_SCHEMA}", f"{pkg}/{CONTRACT}"
    team_schema = team_text(schema_path)
    if team_schema is not None:
        shipped, new_contract = old.text(schema_path), new.text(contract_path)
        if shipped is None or new_contract is None:
            raise MigrationError(f"cannot read {OLD_SCHEMA} of the old release or {CONTRACT} of this one")
        if (project / contract_path).exists():
            blockers.append(
                f"both {schema_path} and {contract_path} exist: move your declarations into {contract_path}, "
                f"delete {schema_path}, commit"
            )
        else:
            try:
                split = split_schema(team_schema, shipped, new_contract, schema_path)
            except MigrationError as error:
                blockers.append(str(error))
            else:
                plan.removals.append(schema_path)
                if split.contract is None:
                    plan.messages.append(
                        f"{schema_path}: your declarations are as released; removed, this release's "
                        f"{CONTRACT} and core/ modules replace it"
                    )
                else:
                    plan.writes[contract_path] = split.contract
                    plan.messages.append(
                        f"{schema_path} -> {contract_path}: kept your declarations ({', '.join(split.kept)}); "
                        "its machinery is now the template's core/ modules"
                    )

    for name in NOW_TEAM_OWNED:
        path = f"{pkg}/{name}"
        team, shipped, current = team_text(path), old.text(path), new.text(path)
        if team is None or current is None or team == current:
            continue
        if any(line.startswith("<<<<<<< " + MERGE_LABELS[0]) for line in team.splitlines()):
            plan.messages.append(f"{path}: merged before, with conflicts left to resolve; unchanged")
            continue
        if shipped is not None and team == shipped:
            if current != shipped:
                plan.removals.append(path)
                plan.messages.append(f"{path}: unedited; replaced by this release's version, yours from now on")
        elif shipped is None or current != shipped:
            merged, conflicts = merge(team, shipped or "", current)
            if merged != team:
                plan.writes[path] = merged
                plan.messages.append(
                    f"{path}: your edits merged into this release's version"
                    + (", with conflict markers (<<<<<<<) where both changed: resolve them" if conflicts else "")
                )

    moved = {f"{pkg}/{old_name}": f"{pkg}/{new_name}" for old_name, new_name in MOVED_MODULES.items()}
    moved.update(MOVED_FILES)
    for source, target in moved.items():
        team = team_text(source)
        if team is None or team == old.text(source):
            continue  # deleted by the team, already moved, or unedited: copier does the rest
        if (project / target).exists():
            blockers.append(
                f"both {source} and {target} exist: merge your edits into {target}, delete {source}, commit"
            )
            continue
        shipped, current = old.text(source), new.text(target)
        merged, conflicts = merge(team, shipped, current) if shipped and current else ("", True)
        if conflicts:
            plan.moves.append((source, target))
            plan.messages.append(
                f"{source} -> {target}: moved as you edited it; the update shows it beside this release's "
                "version as a conflict (keep your lines, take the release's elsewhere)"
            )
        else:
            plan.removals.append(source)
            plan.writes[target] = merged
            plan.messages.append(
                f"{source} -> {target}: your edits carried into this release's version; the update marks "
                "them as a conflict to review"
            )

    handled = {schema_path, *moved, *(f"{pkg}/{name}" for name in NOW_TEAM_OWNED)}
    for path in sorted(set(old.files) - set(new.files) - handled):
        if excluded(path):
            continue  # copier leaves it alone on update
        team, shipped = team_text(path), old.text(path)
        if team is not None and team != shipped:
            edited = "you edited" if shipped is not None else "cannot compare with the release you generated from"
            blockers.append(
                f"{path} ({edited}) is removed by this release: keep your version under a name of your own "
                f"(git mv {path} <new name>) or restore it as released, commit"
            )

    params = team_text("params.yaml")
    if params is not None and PARAMS_ADDED:
        try:
            text, added = with_added_keys(params, PARAMS_ADDED)
        except MigrationError as error:
            blockers.append(str(error))
        else:
            if added:
                plan.writes["params.yaml"] = text
                plan.messages.append(f"params.yaml: added {', '.join(added)} (your values untouched)")

    if blockers:
        raise MigrationError("; ".join(blockers) + ". Then run `copier update` again")
    return plan


def apply(project: Path, plan: Plan) -> None:
    def run(*args: str) -> None:
        result = git(project, *args)
        if result.returncode != 0:
            raise MigrationError(f"git {' '.join(args)} failed: {result.stderr.strip()}")

    for source, target in plan.moves:
        (project / target).parent.mkdir(parents=True, exist_ok=True)
        run("mv", "--", source, target)
    for path in plan.removals:
        run("rm", "-q", "--", path)
    for path, text in plan.writes.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text, encoding="utf-8")
        run("add", "--", path)


def migrate(project: Path, template_root: Path = TEMPLATE_ROOT, ref: str | None = None) -> list[str]:
    """Prepare `project` for this release's layout; return one line per action."""
    answers = read_answers(project)
    package = answers.get("package_name")
    if not package:
        raise MigrationError(f"{ANSWERS_FILE} has no package_name")
    flat = [f"src/{package}/{name}" for name in [OLD_SCHEMA, *MOVED_MODULES]]
    if not any((project / path).exists() for path in flat):
        return ["the package is already laid out by concern; nothing to do"]
    old = release_at(template_root, ref or old_ref(project, answers), answers)
    new = release_at(template_root, None, answers)
    plan = plan_migration(project, old, new, package, excluded_on_update(template_root))
    apply(project, plan)
    return plan.messages or ["no edits to carry over; the update replaces the flat package"]


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print("usage: package_layout.py [OLD_REF]  (run in the project's folder)", file=sys.stderr)
        return 2
    release = os.environ.get("VERSION_PEP440_CURRENT") or os.environ.get("VERSION_CURRENT") or "0.2.0"
    try:
        lines = migrate(Path.cwd(), ref=argv[0] if argv else None)
    except MigrationError as error:
        print(f"migration {release} failed: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"migration {release}: {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
