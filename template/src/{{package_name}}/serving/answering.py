"""What every request to the model goes through, whatever framework serves it.

`Answering` loads what `ml-project.yaml` says to serve (the promoted version, or the fallback
policy, and a shadow candidate), predicts rows in one call (`score`), and writes the
prediction log and the Prometheus counters for each answer (`record`). In a feature-store
project it first reads the feature views' columns for those rows from the online store
(`lookup`), and answers unknown entities per `feature_store.unknown_entity`. `answer` does both for
one request, batched with concurrent ones (`batching`). The BentoML service (`service.py`) is
a thin layer over it, and the Shipshape repository's serving benchmark puts the same object
behind FastAPI and LitServe, so the frameworks are compared doing the same work.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bentoml.exceptions import ServiceUnavailable, UnprocessableEntity
from threadpoolctl import ThreadpoolController

from ..config import FeatureStoreSettings, ServiceSettings, load_project_config
from ..registry.store import Registry, served_registry_path
from ..telemetry.observability import (
    FallbackReason,
    record_prediction_call,
    record_predictions,
    record_stale_features,
)
from ..telemetry.prediction_log import PredictionLog, PredictionRecord
from .api import Answer, Prediction, answers_from, explanations_from, no_model_explanation
from .batching import RowBatcher
from .canary import Canary
from .loading import ServedModel, answer_example, example_rows, resolve, resolve_features, traffic
from .lookup import FeatureLookup
from .shadow import ShadowSetup, load_shadow, record_comparison, score_in_shadow, shadow_entry

logger = logging.getLogger(__name__)

Row = dict[str, Any]


@dataclass(slots=True)  # built per row: a frozen dataclass's __init__ took three times as long
class RowScore:
    """One row's answer, why it is a fallback (if it is), and the shadow candidate's answer (if any).

    With feature views, `served` is the row the model saw (with the views' columns), and
    `answer` is None for a row whose entity the online store does not know, when the policy rejects it.
    """

    answer: Prediction | None
    fallback_reason: FallbackReason | None
    shadow: Prediction | None
    served: Row | None = None


class Answering:
    """Scores rows with the served model (or the fallback policy), logs and counts every answer."""

    def __init__(
        self,
        settings: ServiceSettings,
        served: ServedModel,
        shadow_setup: ShadowSetup,
        prediction_log: PredictionLog,
        *,
        classification: bool,
        features: FeatureLookup | None = None,
        feature_store: FeatureStoreSettings | None = None,
        canary: Canary | None = None,
    ) -> None:
        self.settings = settings
        self.canary = canary  # a rollout's candidate answers a share of rows; None when serving a fallback
        self.served = served
        self.features = features  # None: no feature views, or none readable (then `served` is the fallback)
        self.feature_store = feature_store or FeatureStoreSettings()
        self.shadow_setup = shadow_setup
        self.prediction_log = prediction_log
        self.classification = classification
        # Created after the model loaded its OpenMP runtime; limiting through one controller
        # avoids rescanning loaded libraries in every new thread.
        self.threadpools = ThreadpoolController()
        batch_wait = traffic(settings)["batch_wait"]
        self.batcher = RowBatcher(self.score, max_rows=settings.max_batch_rows, max_wait=batch_wait)

    @classmethod
    def start(cls) -> Answering:
        """What `ml-project.yaml` says to serve, loaded from the served registry and warmed up."""
        config = load_project_config()
        registry = Registry(served_registry_path())
        features, served = resolve_features(config.service, config.feature_store, resolve(registry, config.service))
        if served.is_fallback:
            logger.warning("serving in fallback: %s", served.fallback_reason)
        classification = config.problem_type.is_classification
        shadow_setup = load_shadow(registry, served.version)
        if shadow_setup.problem:
            logger.warning("no shadow model: %s", shadow_setup.problem)
        answering = cls(
            config.service,
            served,
            shadow_setup,
            PredictionLog.from_config(config),
            classification=classification,
            features=features,
            feature_store=config.feature_store,
            canary=None if served.is_fallback else Canary(registry, served.version, classification=classification),
        )
        answering.warm_up()
        return answering

    def single_openmp_thread(self) -> None:
        """One OpenMP thread for the predictions of the calling thread (the event loop's).

        For a few rows a second thread only spins: one thread halved CPU per request in the
        benchmark (Shipshape's benchmarks/README.md). The limit is per thread; predictions run on
        the event loop's thread (see `batching`), the one that starts the service.
        """
        self.threadpools.limit(limits=1, user_api="openmp")

    def warm_up(self) -> None:
        """Predict the contract's example row once (with the shadow too), so no request pays for lazy imports."""
        if self.served.model is not None:
            self.single_openmp_thread()
            answer_example(self.served.model, self.served.metadata)
            if self.shadow_setup.shadow is not None:
                self.shadow_setup.shadow.answers(example_rows())

    @property
    def ready(self) -> bool:
        """True once a model (or, in fallback, the configured default) can answer."""
        fallback_default = self.served.is_fallback and self.settings.fallback_prediction is not None
        return self.served.model is not None or fallback_default

    async def answer(self, rows: list[Row], request_id: str, explain: int | None = None) -> list[Prediction]:
        """One request's answers: predicted with concurrent requests' rows, then logged and counted.

        `explain`: add each answer's `explain` largest feature contributions (`explain_answers`).
        """
        started = time.perf_counter()
        scored = await self.submit(rows, request_id)
        if self.features is not None:
            self.reject_unknown_entities(scored)
            rows = [row_score.served or row for row, row_score in zip(rows, scored, strict=True)]  # with the views'
        if explain:
            self.explain_answers(rows, [row_score.answer for row_score in scored], explain)
        return self.record(rows, scored, request_id=request_id, latency_ms=(time.perf_counter() - started) * 1000)

    async def submit(self, rows: list[Row], request_id: str) -> list[RowScore]:
        """`rows` scored in a batch; under a contract without an identifier, keyed by `request_id` for the canary."""
        if self.canary is None or self.canary.key is not None:
            return await self.batcher.submit(rows)
        with self.canary.keyed_by_request(rows, request_id):
            return await self.batcher.submit(rows)

    def model_of(self, version: str) -> ServedModel | None:
        """The model that answers as `version`: the served one, or a rollout's candidate; None for the rule-based
        fallback (or a candidate no longer routed to)."""
        if self.served.model is not None and version == self.served.version:
            return self.served
        candidate = self.canary.candidate if self.canary is not None else None
        if candidate is not None and version == candidate.version:
            return candidate
        return None

    def explain_answers(self, rows: list[Row], answers: list[Prediction | None], count: int) -> None:
        """Give each answer its `count` largest contributions, from the model that gave it (`model_of`).

        Computed after the batched prediction, for this request's rows only, so a request that does
        not ask pays nothing; SHAP, where the family needs it, loads on the first request that asks.
        """
        by_version: dict[str, list[int]] = {}
        for index, answer in enumerate(answers):
            if answer is not None:
                by_version.setdefault(answer.model_version, []).append(index)
        for version, indexes in by_version.items():
            served = self.model_of(version)
            if served is None:
                for index in indexes:
                    answers[index].explanation = no_model_explanation()  # type: ignore[union-attr]
                continue
            explanations = explanations_from(served.model, [rows[index] for index in indexes], count)
            for index, explanation in zip(indexes, explanations, strict=True):
                answers[index].explanation = explanation  # type: ignore[union-attr]

    def reject_unknown_entities(self, scored: list[RowScore]) -> None:
        """422 naming the identifier field (never its value) when a row's entity is unknown and the policy rejects."""
        assert self.features is not None  # noqa: S101 - called only with a lookup
        rejected = [index for index, row_score in enumerate(scored) if row_score.answer is None]
        if not rejected:
            return
        where = self.features.entity if len(scored) == 1 else f"rows {rejected}: {self.features.entity}"
        raise UnprocessableEntity(
            f"unknown entity: {where}: the online feature store has no features for it "
            "(ml-project.yaml feature_store.unknown_entity is reject)"
        )

    def record(
        self, rows: list[Row], scored: list[RowScore], *, request_id: str, latency_ms: float
    ) -> list[Prediction]:
        """Log and count one request's answers under its id; returns the answers."""
        answered_at = datetime.now(UTC)
        self.prediction_log.write(
            [
                PredictionRecord(
                    request_id=request_id if len(rows) == 1 else f"{request_id}-{index}",
                    model_version=row_score.answer.model_version,
                    features=row,
                    prediction=row_score.answer.prediction,
                    probabilities=row_score.answer.probabilities,
                    latency_ms=latency_ms,
                    fallback=row_score.answer.fallback,
                    timestamp=answered_at,
                    shadow=shadow_entry(row_score.shadow) if row_score.shadow else None,
                )
                for index, (row, row_score) in enumerate(zip(rows, scored, strict=True))
            ]
        )
        for (reason, version), same in self.by_reason_and_version(scored):
            record_predictions(
                [row_score.answer.prediction for row_score in same],
                fallback=reason is not None,
                classification=self.classification,
                fallback_reason=reason,
                version=version,
            )
        return [row_score.answer for row_score in scored]

    def by_reason_and_version(
        self, scored: list[RowScore]
    ) -> list[tuple[tuple[FallbackReason | None, str], list[RowScore]]]:
        """The answers in runs of one fallback reason and version: the whole request, unless a canary answered
        some rows, or unknown entities got the fallback beside the model's answers (feature views)."""
        first = scored[0]
        if self.features is None and (self.canary is None or self.canary.percent <= 0):
            return [((first.fallback_reason, first.answer.model_version), scored)]  # type: ignore[union-attr]
        return [
            (key, list(same))
            for key, same in itertools.groupby(
                scored,
                key=lambda score: (score.fallback_reason, score.answer.model_version),  # type: ignore[union-attr]
            )
        ]

    def score(self, rows: list[Row]) -> list[RowScore]:
        """Every row's answer, with the shadow's beside it: one prediction call for all of `rows`."""
        if self.features is not None:
            return self.score_with_features(self.features, rows)
        return self.score_rows(rows)

    def score_with_features(self, features: FeatureLookup, rows: list[Row]) -> list[RowScore]:
        """`score` after one online read for all of `rows`: known entities predicted, unknown ones per the policy."""
        try:
            looked_up = features.read(rows)
        except Exception:  # the store went away after start-up: the fallback policy decides
            logger.exception("the online feature store %s could not be read", features.store)
            if self.settings.fallback == "error" or self.settings.fallback_prediction is None:
                raise ServiceUnavailable("the online feature store could not be read; see the service log") from None
            return [RowScore(self.rule_based_answer(), FallbackReason.FEATURES_UNAVAILABLE, None) for _ in rows]
        known = [index for index, unknown in enumerate(looked_up.unknown) if not unknown]
        known_scores = self.score_rows([looked_up.rows[index] for index in known]) if known else []
        scored = dict(zip(known, known_scores, strict=True))
        results = []
        for index, served in enumerate(looked_up.rows):
            row_score = scored.get(index) or self.unknown_entity_score()
            row_score.served = served
            if looked_up.stale[index] and row_score.answer is not None:
                row_score.answer.stale_features = list(looked_up.stale[index])  # type: ignore[attr-defined]
                record_stale_features(looked_up.stale[index])
            results.append(row_score)
        return results

    def unknown_entity_score(self) -> RowScore:
        """A row whose entity the online store does not know: no answer (reject: a 422), or the fallback."""
        if self.feature_store.unknown_entity == "reject":
            return RowScore(None, None, None)
        return RowScore(self.rule_based_answer(), FallbackReason.UNKNOWN_ENTITY, None)

    def score_rows(self, rows: list[Row]) -> list[RowScore]:
        """The model's (or the fallback's) answer for each of `rows`, and the shadow's: one prediction call
        (two while a rollout's candidate answers some of them)."""
        if self.canary is not None:
            self.canary.refresh()
            if self.canary.percent > 0:
                return self.score_with_canary(self.canary, rows)
        answers, reason = self.predict_or_fall_back(rows)
        shadow_answers = self.shadow_answers(rows, answers) or [None] * len(rows)
        return [RowScore(answer, reason, shadow) for answer, shadow in zip(answers, shadow_answers, strict=True)]

    def score_with_canary(self, canary: Canary, rows: list[Row]) -> list[RowScore]:
        """`score_rows` with the rollout's candidate answering the rows routed to it.

        Rows the candidate fails on are answered by the served model (the caller never sees the
        canary's failure) and counted as the candidate's errors, which may abort the rollout.
        """
        routed = canary.routed(rows)
        to_candidate = [index for index, chosen in enumerate(routed) if chosen]
        candidate_answers, seconds = self.candidate_answers(canary, [rows[index] for index in to_candidate])
        by_index: dict[int, tuple[Prediction, FallbackReason | None]] = {}
        if candidate_answers is not None:
            by_index.update(zip(to_candidate, ((answer, None) for answer in candidate_answers), strict=True))
        rest = [index for index in range(len(rows)) if index not in by_index]
        baseline_answers: list[Prediction] = []
        if rest:
            answers, reason = self.predict_or_fall_back([rows[index] for index in rest])
            by_index.update((index, (answer, reason)) for index, answer in zip(rest, answers, strict=True))
            if reason is None:  # the served model's own answers, on rows the canary was not given
                baseline_answers = [answer for index, answer in zip(rest, answers, strict=True) if not routed[index]]
        # Every call counts, one with the promoted model's rows alone too: single-row requests are never mixed.
        canary.observe(candidate_answers, len(to_candidate), seconds, baseline_answers)
        answers = [by_index[index][0] for index in range(len(rows))]
        shadow_answers = self.shadow_answers(rows, answers) or [None] * len(rows)
        return [
            RowScore(answer, by_index[index][1], shadow)
            for index, (answer, shadow) in enumerate(zip(answers, shadow_answers, strict=True))
        ]

    def candidate_answers(self, canary: Canary, rows: list[Row]) -> tuple[list[Prediction] | None, float]:
        """The candidate's answers for `rows` (None when it failed, logged) and the call's time in seconds."""
        candidate = canary.candidate
        if not rows:
            return [], 0.0
        if candidate is None:  # cannot happen: rows are routed only while it is set; those rows fall back
            return None, 0.0
        started = time.perf_counter()
        try:
            answers = answers_from(candidate.model, candidate.metadata, rows)
        except Exception:  # the candidate's failure is the rollout's result, never the caller's error
            logger.exception("the canary %s failed to predict; the served model answered", candidate.version)
            answers = None
        seconds = time.perf_counter() - started
        record_prediction_call(candidate.version, seconds, failed_rows=len(rows) if answers is None else 0)
        return answers, seconds

    def shadow_answers(self, rows: list[Row], answers: list[Prediction]) -> list[Prediction] | None:
        """The shadow candidate's answers for the log, compared in the metrics; None without a shadow."""
        shadow = self.shadow_setup.shadow
        if shadow is None:
            return None
        shadow_answers = score_in_shadow(shadow, rows)
        record_comparison(answers, shadow_answers, classification=self.classification)
        return shadow_answers

    def predict_or_fall_back(self, rows: list[Row]) -> tuple[list[Prediction], FallbackReason | None]:
        """The model's answers, or the fallback policy's, with the reason for a fallback."""
        if self.served.model is None:
            return [self.rule_based_answer() for _ in rows], self.no_model_reason
        started = time.perf_counter()
        try:
            answers = answers_from(self.served.model, self.served.metadata, rows, fallback=self.served.is_fallback)
        except Exception:  # a model that fails at prediction time: the fallback policy decides
            record_prediction_call(self.served.version, time.perf_counter() - started, failed_rows=len(rows))
            logger.exception("the model failed to predict")
            if self.settings.fallback == "rule_based":
                return [self.rule_based_answer() for _ in rows], FallbackReason.PREDICTION_ERROR
            raise ServiceUnavailable("the model failed to predict; see the service log") from None
        record_prediction_call(self.served.version, time.perf_counter() - started)
        return answers, FallbackReason.LAST_GOOD if self.served.is_fallback else None

    @property
    def no_model_reason(self) -> FallbackReason:
        """Why no model answers: it could not be loaded, or (with feature views) the online store cannot be read."""
        if self.served.features_unavailable:
            return FallbackReason.FEATURES_UNAVAILABLE
        return FallbackReason.MODEL_UNAVAILABLE

    def rule_based_answer(self) -> Prediction:
        value = self.settings.fallback_prediction
        assert value is not None  # noqa: S101 - serving.resolve refuses rule_based without it
        return Answer(prediction=value, model_version="rule-based", fallback=True)

    def close(self) -> None:
        """Write out buffered prediction records."""
        self.prediction_log.close()
