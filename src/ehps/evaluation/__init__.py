"""Benchmark-exact evaluation of SMPLer-X / SMPLest-X style predictions.

- :mod:`~ehps.evaluation.metrics`, :mod:`~ehps.evaluation.alignment`: pure batched tensor metrics
  (MPVPE / MPJPE, root-aligned and Procrustes-aligned, millimetres).
- :mod:`~ehps.evaluation.blocks`: the official per-benchmark metric blocks (SMPLer-X, SMPLest-X,
  the three 3DPW protocols).
- :mod:`~ehps.evaluation.agora_server`: what the AGORA server computes (matching, F1, NMVE /
  NMJE) and the test-submission writer; the AGORA benchmark itself (data, crops) is
  :mod:`~ehps.evaluation.benchmarks.agora`.
- :mod:`~ehps.evaluation.regressors`, :mod:`~ehps.evaluation.smpl`: J14 / hand / H36M regressors,
  the SMPL-X -> SMPL map, a minimal SMPL layer for SMPL ground truth.
- :mod:`~ehps.evaluation.benchmarks`: one evaluator per benchmark reading its real layout.
- :mod:`~ehps.evaluation.runner`: drives a network (or any ``predict_fn``) over an evaluator.
- :mod:`~ehps.evaluation.report`, :mod:`~ehps.evaluation.published`: JSON / markdown / bar chart
  beside the published numbers (kept as data with their sources).

Typical use::

    from ehps.evaluation import EvalContext, get_benchmark, run_evaluation, network_predict_fn
    ctx = EvalContext.from_paths()                      # finds the SMPL-X files
    ev = get_benchmark("ehf")("/data", ctx)
    report = run_evaluation(ev, network_predict_fn(model))
    write_report(report, "results/")
"""

from __future__ import annotations

from ehps.evaluation.benchmarks import (
    EvalContext,
    EvalSample,
    Evaluator,
    PredictionBatch,
    get_benchmark,
    list_benchmarks,
)
from ehps.evaluation.report import EvalReport, write_report
from ehps.evaluation.runner import network_predict_fn, oracle_predict_fn, run_evaluation

__all__ = [
    "EvalContext",
    "EvalSample",
    "Evaluator",
    "PredictionBatch",
    "EvalReport",
    "get_benchmark",
    "list_benchmarks",
    "network_predict_fn",
    "oracle_predict_fn",
    "run_evaluation",
    "write_report",
]
