"""One evaluator per benchmark (reset / process / summarize), each reading the benchmark's real
on-disk layout. Importing this package registers them all:

``ehf``, ``agora_val``, ``agora_test``, ``ubody``, ``pw3d``, ``egobody``, ``arctic``,
``renbody``, ``synhand`` (:mod:`~ehps.evaluation.benchmarks.humandata_sets`) and ``humandata``
(any HumanData file).
"""

from __future__ import annotations

from ehps.evaluation.benchmarks import agora, ehf, humandata_sets, pw3d, ubody
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
    "ehf",
    "humandata_sets",
    "pw3d",
    "ubody",
]
