"""One evaluator per benchmark (reset / process / summarize), each reading the benchmark's real
on-disk layout. Importing this package registers them all:

``ehf``, ``agora_val``, ``agora_test``, ``ubody``, ``egobody``, ``pw3d``, ``arctic``,
``renbody``, ``synhand`` and ``humandata`` (any HumanData file).
"""

from __future__ import annotations

from ehps.evaluation.benchmarks import agora, arctic, egobody, ehf, pw3d, renbody, synhand, ubody
from ehps.evaluation.benchmarks.base import (
    EvalContext,
    EvalSample,
    Evaluator,
    PredictionBatch,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
)
from ehps.evaluation.benchmarks.humandata_generic import GenericHumanDataEvaluator

__all__ = [
    "EvalContext",
    "EvalSample",
    "Evaluator",
    "PredictionBatch",
    "GenericHumanDataEvaluator",
    "get_benchmark",
    "list_benchmarks",
    "register_benchmark",
    "agora",
    "arctic",
    "egobody",
    "ehf",
    "pw3d",
    "renbody",
    "synhand",
    "ubody",
]
