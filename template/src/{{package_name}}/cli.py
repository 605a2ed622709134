"""The project's command line: every pipeline stage and operation is a subcommand.

`dvc.yaml` runs the pipeline stages through it, `readiness` reports what stands between the
project and production, and later operations (monitoring, promotion, rollback) join here, so
there is one entry point to learn.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .config import PARAMS_PATH, ComputeParams, load_params, load_project_config
from .core.errors import ProjectError


class NotReadyError(ProjectError):
    """At least one readiness check failed."""


# Stage modules are imported by the command that needs them: each DVC stage is its own
# process, and importing scikit-learn and skops only where used keeps stages quick.


def dask_settings() -> ComputeParams | None:
    """params.yaml `compute` when it runs the stages on Dask (`engine: dask`), else None: in this process."""
    compute = load_params().compute if PARAMS_PATH.is_file() else ComputeParams()
    return compute if compute.engine == "dask" else None


def on_cluster(compute: ComputeParams, stage: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Run a `compute` stage function on the Dask cluster (a local one unless DASK_SCHEDULER_ADDRESS names one)."""
    from .compute.cluster import cluster_client

    with cluster_client(compute) as client:
        return stage(*args, client, compute, **options)


def run_validate(args: argparse.Namespace) -> str:
    compute = dask_settings()
    if compute is None:
        from .pipeline.validate import validate_file

        rows = validate_file(args.input, args.output, args.lineage)
    else:
        from .compute.validate import validate_file

        rows = on_cluster(compute, validate_file, args.input, args.output, args.lineage)
    return f"{args.input}: {rows} rows meet the data contract -> {args.output}"


def run_history(args: argparse.Namespace) -> str:
    from .featurestore.history import validate_history

    records = validate_history(args.history_dir, args.output_dir)
    read = ", ".join(f"{record['path']} ({record['rows']} rows)" for record in records)
    return f"{read}: meet the data contract -> {args.output_dir}"


def run_join(args: argparse.Namespace) -> str:
    from .featurestore.offline import join_file, missing_summary

    limit = load_params().feature_store.max_missing_share
    summary = missing_summary(join_file(args.input, args.output, args.metrics, limit))
    return (
        f"joined the feature views to {summary['rows']} rows; {summary['missing_rows']} had no history in time "
        f"(share {summary['missing_share']}, limit {limit}) and keep missing values -> {args.output}, {args.metrics}"
    )


def run_materialize(args: argparse.Namespace) -> str:
    from .featurestore.materialize import materialize

    return materialize()


def run_split(args: argparse.Namespace) -> str:
    params, compute = load_params(), dask_settings()
    if compute is None:
        from .core.tables import read_table, write_table
        from .pipeline.split import split_rows

        train, test = split_rows(read_table(args.input), params.split)
        write_table(train, args.train)
        write_table(test, args.test)
        train_rows, test_rows = len(train), len(test)
    else:
        from .compute.split import split_file

        train_rows, test_rows = on_cluster(compute, split_file, args.input, args.train, args.test, params.split)
    total = train_rows + test_rows
    return f"split {total} rows: {train_rows} train -> {args.train}, {test_rows} test -> {args.test}"


def run_features(args: argparse.Namespace) -> str:
    compute = dask_settings()
    if compute is None:
        from .pipeline.features import features_files

        written = features_files(args.inputs, args.output_dir)
    else:
        from .compute.features import features_files

        written = on_cluster(compute, features_files, args.inputs, args.output_dir)
    return "model inputs -> " + ", ".join(str(path) for path in written)


def run_train(args: argparse.Namespace) -> str:
    paths, config, compute = (args.input, args.data_lineage, args.model_dir), load_project_config(), dask_settings()
    if compute is None:
        from .pipeline.train import train_file

        metadata = train_file(*paths, config, load_params().train)
    else:
        from .compute.train import train_file

        metadata = on_cluster(compute, train_file, *paths, config, load_params().train)
    threshold = metadata.get("decision_threshold")
    decided = (
        f", decision threshold {threshold} (chosen on {metadata['threshold_rows']} held-out rows)"
        if threshold is not None
        else ""
    )
    return f"trained model {metadata['version']} on {metadata['training_rows']} rows{decided} -> {args.model_dir}"


def run_evaluate(args: argparse.Namespace) -> str:
    from .pipeline.tracking import log_run
    from .registry.artifacts import MODEL_FILE, metadata_path, read_metadata

    params, compute = load_params(), dask_settings()
    model_path = args.model_dir / MODEL_FILE
    files = (args.input, model_path, args.metrics, args.reports, params.evaluate)
    if compute is None:
        from .pipeline.evaluate import evaluate_files

        metrics = evaluate_files(*files)
    else:
        from .compute.evaluate import evaluate_files

        metrics = on_cluster(compute, evaluate_files, *files)
    summary = ", ".join(f"{name}={value}" for name, value in metrics.items() if not isinstance(value, dict))
    run_id = log_run(params.tracking, read_metadata(model_path), metrics, [model_path, metadata_path(model_path)])
    tracked = f" (MLflow run {run_id})" if run_id else ""
    return f"{summary} -> {args.metrics}, {args.reports}{tracked}"


def run_explain(args: argparse.Namespace) -> str:
    from .pipeline.explain import explain_file
    from .registry.artifacts import MODEL_FILE

    report = explain_file(args.input, args.model_dir / MODEL_FILE, args.reports, load_params().explain)
    top = ", ".join(f"{name}={value}" for name, value in list(report["mean_abs_contribution"].items())[:3])
    return f"{report['method']} on {report['rows']} rows, mean |contribution| {top} -> {args.reports}"


def run_fairness(args: argparse.Namespace) -> str:
    from .pipeline.fairness import FAIRNESS_FILE, fairness_files
    from .registry.artifacts import MODEL_FILE

    settings = load_project_config().fairness
    report = fairness_files(args.input, args.model_dir / MODEL_FILE, args.reports, load_params().fairness, settings)
    written = args.reports / FAIRNESS_FILE
    if not report["attributes"]:
        return f"fairness: no column is marked sensitive in contract.py, so no groups were compared -> {written}"
    verdict = "no significant ratio below" if report["passed"] else f"{len(report['failures'])} ratio(s) below"
    return f"fairness across {', '.join(report['attributes'])}: {verdict} {settings.min_ratio} -> {written}"


def run_gate(args: argparse.Namespace) -> str:
    from .pipeline.gate import gate_file
    from .registry.artifacts import MODEL_FILE, read_metadata
    from .registry.store import Registry

    candidate = read_metadata(args.candidate / MODEL_FILE)
    config, registry = load_project_config(), Registry(args.registry)
    return gate_file(args.metrics, args.decision, config, registry, candidate, args.fairness).explain()


def run_register(args: argparse.Namespace) -> str:
    from .registry.store import Registry, register_candidate

    return register_candidate(Registry(args.registry), args.model_dir, args.metrics, args.reports, args.decision)


def run_versions(args: argparse.Namespace) -> str:
    from .registry.store import Registry, served_registry_path
    from .registry.versions import versions_json, versions_table

    registry = Registry(args.registry or served_registry_path())
    return versions_json(registry) if args.json else versions_table(registry, load_project_config().gate.metric)


def run_promote(args: argparse.Namespace) -> str:
    from .registry.store import Registry, served_registry_path
    from .registry.versions import current_actor, promote

    reason = args.reason or "promoted by hand"
    registry = Registry(args.registry or served_registry_path())
    return promote(registry, args.version, load_project_config(), reason, current_actor())


def run_rollback(args: argparse.Namespace) -> str:
    from .registry.store import Registry, served_registry_path
    from .registry.versions import current_actor, rollback

    reason = args.reason or "rolled back by hand"
    return rollback(Registry(args.registry or served_registry_path()), load_project_config(), reason, current_actor())


def run_rollout(args: argparse.Namespace) -> str:
    from .registry import rollout
    from .registry.store import Registry, served_registry_path
    from .registry.versions import current_actor

    registry, by = Registry(args.registry or served_registry_path()), current_actor()
    reason = args.reason or f"{args.action} by hand"
    if args.action == "start":
        config = load_project_config()
        percent = args.percent if args.percent is not None else rollout.first_percent(config)
        return rollout.start(registry, args.version, percent, config, reason, by)
    if args.action == "advance":
        return rollout.advance(registry, args.percent, reason, by)
    if args.action == "promote":
        return rollout.promote(registry, load_project_config(), reason, by)
    return rollout.abort(registry, reason, by)


def run_readiness(args: argparse.Namespace) -> str:
    from .governance.readiness import assess, render_json, render_table

    report = assess(Path.cwd())
    print(render_json(report) if args.json else render_table(report))
    if not report.ready:
        raise NotReadyError("not production-ready: fix every check marked FAIL")
    return "" if args.json else "production-ready: no check fails"


def run_review_bundle(args: argparse.Namespace) -> str:
    from .governance.review import write_bundle

    folder = write_bundle(Path.cwd(), args.output, archive=not args.no_zip)
    zipped = "" if args.no_zip else f" and {folder}.zip"
    return f"review bundle -> {folder}{zipped}: open {folder / 'index.html'} in a browser"


def run_serve(args: argparse.Namespace) -> str:
    import os
    import shutil

    from .registry.store import REGISTRY_ENV, Registry, served_registry_path
    from .serving.loading import preflight

    registry = Registry(args.registry or served_registry_path())
    print(preflight(registry, load_project_config().service), flush=True)
    os.environ[REGISTRY_ENV] = str(registry.root)  # the service serves the registry just checked
    bentoml = shutil.which("bentoml")
    if bentoml is None:
        raise ProjectError("bentoml is not installed in this environment: run `uv sync`")
    # Replace this process: signals and the exit code are BentoML's from here on.
    os.execv(bentoml, [bentoml, "serve", "--host", args.host, "--port", str(args.port), *args.bentoml_args])  # noqa: S606
    return ""  # not reached


def run_monitor(args: argparse.Namespace) -> tuple[str, int]:
    """Exit 0 all clear, 3 alert, 4 insufficient data (1 is left to errors)."""
    from .monitoring.monitor import monitor, write_outputs
    from .registry.store import Registry, served_registry_path
    from .telemetry.prediction_log import PredictionLogSettings

    predictions = args.predictions or PredictionLogSettings.from_env().directory
    registry = Registry(served_registry_path())
    summary = monitor(
        load_project_config(), registry, predictions, args.outcomes, args.window_hours, report_dir=args.output_dir
    )
    written = write_outputs(summary, args.output_dir)
    lines = [f"{summary.status}: {summary.window.rows} rows from {summary.window.source}"]
    lines += [f"- {alert}" for alert in summary.alerts]
    lines.append("-> " + ", ".join(str(path) for path in written))
    return "\n".join(lines), summary.exit_code


def run_score(args: argparse.Namespace) -> str:
    from .registry.store import Registry, served_registry_path
    from .scoring.batch import CHUNK_ROWS, input_format, score_file
    from .serving.loading import load_promoted

    input_format(args.input)  # a wrong suffix fails before the model loads
    input_format(str(args.output))
    served = load_promoted(Registry(args.registry or served_registry_path()))
    compute = dask_settings()
    if compute is not None:  # each partition of the input is a chunk: --chunk-rows does not apply
        from .compute.scoring import score_file as score_on_cluster

        summary = on_cluster(
            compute, score_on_cluster, args.input, args.output, served, rejects=args.rejects, explain=args.explain
        )
        return summary.explain()
    summary = score_file(
        args.input,
        args.output,
        served,
        rejects=args.rejects,
        chunk_rows=args.chunk_rows or CHUNK_ROWS,
        explain=args.explain,
    )
    return summary.explain()


def explain_count(text: str) -> int:
    """`--explain K`: how many contributions each row lists, a whole number from 1."""
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)


def run_example_request(args: argparse.Namespace) -> str:
    from .contract import COLUMNS

    return json.dumps({column.name: column.example for column in COLUMNS}, indent=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check raw data against the data contract")
    validate.add_argument("input", type=Path)
    validate.add_argument("--output", type=Path, required=True)
    validate.add_argument("--lineage", type=Path, help="where to record the raw file's md5 for the model's lineage")
    validate.set_defaults(handler=run_validate)

    split = commands.add_parser("split", help="split validated rows into train and test sets")
    split.add_argument("input", type=Path)
    split.add_argument("--train", type=Path, required=True)
    split.add_argument("--test", type=Path, required=True)
    split.set_defaults(handler=run_split)

    features = commands.add_parser("features", help="compute model inputs from validated split files")
    features.add_argument("inputs", type=Path, nargs="+")
    features.add_argument("--output-dir", type=Path, required=True)
    features.set_defaults(handler=run_features)

    train = commands.add_parser("train", help="fit the model and save it with its lineage")
    train.add_argument("input", type=Path, help="features file from the features stage")
    train.add_argument("--data-lineage", type=Path, required=True, help="the validate stage's record of the raw data")
    train.add_argument("--model-dir", type=Path, required=True)
    train.set_defaults(handler=run_train)

    evaluate = commands.add_parser("evaluate", help="score the model on held-out rows, write metrics and reports")
    evaluate.add_argument("input", type=Path, help="features file from the features stage")
    evaluate.add_argument("--model-dir", type=Path, required=True)
    evaluate.add_argument("--metrics", type=Path, required=True)
    evaluate.add_argument("--reports", type=Path, required=True)
    evaluate.set_defaults(handler=run_evaluate)

    explain = commands.add_parser(
        "explain", help="global explanations: mean |feature contribution| per contract column on held-out rows"
    )
    explain.add_argument("input", type=Path, help="features file from the features stage")
    explain.add_argument("--model-dir", type=Path, required=True)
    explain.add_argument("--reports", type=Path, required=True)
    explain.set_defaults(handler=run_explain)

    fairness = commands.add_parser("fairness", help="compare the model's outcomes across sensitive groups")
    fairness.add_argument("input", type=Path, help="held-out rows from the split stage (every contract column)")
    fairness.add_argument("--model-dir", type=Path, required=True)
    fairness.add_argument("--reports", type=Path, required=True)
    fairness.set_defaults(handler=run_fairness)

    gate = commands.add_parser("gate", help="check the primary metric against the owner's promotion gate")
    gate.add_argument("metrics", type=Path)
    gate.add_argument("--candidate", type=Path, required=True, help="model directory of the candidate")
    gate.add_argument("--decision", type=Path, required=True)
    gate.add_argument("--registry", type=Path, required=True)
    gate.add_argument("--fairness", type=Path, help="the fairness stage's report, judged against fairness.min_ratio")
    gate.set_defaults(handler=run_gate)

    register = commands.add_parser("register", help="add a candidate that passed the gate to the registry")
    register.add_argument("model_dir", type=Path)
    register.add_argument("--metrics", type=Path, required=True)
    register.add_argument("--reports", type=Path, required=True)
    register.add_argument("--decision", type=Path, required=True)
    register.add_argument("--registry", type=Path, required=True)
    register.set_defaults(handler=run_register)

    versions = commands.add_parser("versions", help="list registered model versions with metrics and lineage")
    versions.add_argument("--json", action="store_true", help="print versions and promotion history as JSON")
    versions.add_argument("--registry", type=Path, help="default: $MODEL_REGISTRY, else models/registry")
    versions.set_defaults(handler=run_versions)

    promote = commands.add_parser("promote", help="serve a registered version next, if it passes the gate")
    promote.add_argument("version", help="a version listed by `versions`")
    promote.add_argument("--reason", help="why, recorded in the promotion history")
    promote.add_argument("--registry", type=Path, help="default: $MODEL_REGISTRY, else models/registry")
    promote.set_defaults(handler=run_promote)

    rollback = commands.add_parser("rollback", help="promote the previously promoted version again")
    rollback.add_argument("--reason", help="why, recorded in the promotion history")
    rollback.add_argument("--registry", type=Path, help="default: $MODEL_REGISTRY, else models/registry")
    rollback.set_defaults(handler=run_rollback)
    add_rollout_commands(commands)

    readiness = commands.add_parser("readiness", help="report what stops this project from being production-ready")
    readiness.add_argument("--json", action="store_true", help="print the report as JSON")
    readiness.set_defaults(handler=run_readiness)

    review = commands.add_parser(
        "review-bundle", help="write the promoted model's review bundle: model card, reports, lineage, contract"
    )
    review.add_argument("--output", type=Path, help="the bundle's folder (default: review/<version>)")
    review.add_argument("--no-zip", action="store_true", help="write the folder only, not <folder>.zip beside it")
    review.set_defaults(handler=run_review_bundle)

    serve = commands.add_parser("serve", help="check the model can be served, then start `bentoml serve`")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--registry", type=Path, help="default: $MODEL_REGISTRY, else models/registry")
    serve.add_argument("bentoml_args", nargs=argparse.REMAINDER, help="passed on to `bentoml serve` (after --)")
    serve.set_defaults(handler=run_serve)

    monitor = commands.add_parser(
        "monitor", help="compare live predictions with the reference profile: exit 0 ok, 3 alert, 4 too few rows"
    )
    monitor.add_argument(
        "--predictions",
        type=Path,
        help="prediction-log directory (default: $PREDICTION_LOG_DIR) or a .csv/.jsonl batch",
    )
    monitor.add_argument("--outcomes", type=Path, help="CSV/JSONL of request_id and the true target: live metric")
    monitor.add_argument("--output-dir", type=Path, default=Path("logs/monitoring"))
    monitor.add_argument("--window-hours", type=int, help="default: monitoring.window_hours in ml-project.yaml")
    monitor.set_defaults(handler=run_monitor)

    score = commands.add_parser(
        "score", help="score a CSV or Parquet file with the promoted model; rows that break the contract go to rejects"
    )
    score.add_argument("input", help="a .csv or .parquet path or URL (e.g. s3://bucket/customers.parquet)")
    score.add_argument("output", type=Path, help="where the scored rows go: .csv or .parquet")
    score.add_argument(
        "--rejects", type=Path, help="rejected rows and why (CSV); default: OUTPUT's stem + .rejects.csv"
    )
    score.add_argument("--registry", type=Path, help="default: $MODEL_REGISTRY, else models/registry")
    score.add_argument("--chunk-rows", type=int, help="rows read and scored at a time (default: 200,000)")
    score.add_argument(
        "--explain",
        type=explain_count,
        default=0,
        metavar="K",
        help="add each row's K largest feature contributions as columns (explain_1_column, explain_1_contribution, …)",
    )
    score.set_defaults(handler=run_score)

    example = commands.add_parser("example-request", help="print a valid /predict request body (JSON)")
    example.set_defaults(handler=run_example_request)
    if find_spec(f"{__package__}.featurestore") is not None:
        add_feature_store_commands(commands)
    return parser


def add_rollout_commands(commands: argparse._SubParsersAction) -> None:
    """`rollout start|advance|promote|abort`: a canary rollout, recorded in the registry (`registry.rollout`)."""
    rollout = commands.add_parser("rollout", help="send a share of live requests to a candidate, then promote or abort")
    actions = rollout.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="send --percent of requests to VERSION, if it passes the gate")
    start.add_argument("version", help="a version listed by `versions`")
    start.add_argument(
        "--percent", type=float, help="default: $ROLLOUT_FIRST_PERCENT, else rollout.first_percent in ml-project.yaml"
    )
    advance = actions.add_parser("advance", help="raise the running rollout's share")
    advance.add_argument("--percent", type=float, required=True)
    actions.add_parser("promote", help="at 100%%: promote the candidate (moves the pointer)")
    actions.add_parser("abort", help="send the candidate no more requests")
    for action in actions.choices.values():
        action.add_argument("--reason", help="why, recorded in the rollout history")
        action.add_argument("--registry", type=Path, help="default: $MODEL_REGISTRY, else models/registry")
        action.set_defaults(handler=run_rollout)


def add_feature_store_commands(commands: argparse._SubParsersAction) -> None:
    """The feature store's commands, in a project that has one (`feature_views.py`)."""
    history = commands.add_parser("history", help="check each feature view's history table against the contract")
    history.add_argument("--history-dir", type=Path, default=Path("data/history"))
    history.add_argument("--output-dir", type=Path, required=True)
    history.set_defaults(handler=run_history)

    join = commands.add_parser("join", help="join the feature views to validated rows, each at its own time")
    join.add_argument("input", type=Path, help="validated rows from the validate stage")
    join.add_argument("--output", type=Path, required=True)
    join.add_argument("--metrics", type=Path, required=True, help="rows without history in time: count and share")
    join.set_defaults(handler=run_join)

    materialize = commands.add_parser("materialize", help="load the views' newest values into the online store")
    materialize.set_defaults(handler=run_materialize)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A handler returns what to print, or that and an exit code (`monitor` signals alerts by it).
    handler: Callable[[argparse.Namespace], str | tuple[str, int]] = args.handler
    try:
        result = handler(args)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary, code = result if isinstance(result, tuple) else (result, 0)
    if summary:
        print(summary)
    return code


if __name__ == "__main__":
    sys.exit(main())
