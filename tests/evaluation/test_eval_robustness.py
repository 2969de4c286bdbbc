"""``ehps eval`` on a benchmark with an unreadable image: the sample is named and skipped, the
others are scored, and the exit status is 3.

Reference: the perturbed-oracle metrics of the remaining samples equal those of a benchmark that
only ever had those samples (the same files with the broken sample's annotation removed).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_minidata import write_ehf

from ehps.cli.main import main
from ehps.evaluation.benchmarks import get_benchmark
from ehps.evaluation.runner import oracle_predict_fn, run_evaluation
from ehps.modeling import convert_official_checkpoint
from ehps.modeling.synthetic import write_synthetic_official_checkpoint


def _perturbed(oracle: dict) -> dict:
    rng = np.random.default_rng(5)
    return {k: {n: np.asarray(v) + 0.05 * rng.normal(size=np.shape(v)) for n, v in p.items()}
            for k, p in oracle.items()}


def test_missing_image_is_skipped_and_the_rest_scored(tmp_path, eval_context):
    oracle = write_ehf(tmp_path / "full", eval_context, n=4)
    pert = _perturbed(oracle)
    (tmp_path / "full" / "EHF" / "data" / "02_img.jpg").unlink()
    ev = get_benchmark("ehf")(tmp_path / "full", eval_context)
    report = run_evaluation(ev, oracle_predict_fn(pert), batch_size=3)
    assert report.counts["samples_evaluated"] == 3 and report.counts["samples_skipped"] == 1
    assert "02_img.jpg" in report.extra["skipped"][0]["image"]
    assert any("skipped" in n for n in report.notes)
    # reference: the same benchmark without that sample
    ref_root = tmp_path / "ref"
    write_ehf(ref_root, eval_context, n=4)
    ann_path = ref_root / "EHF" / "data" / "EHF.json"
    ann = json.loads(ann_path.read_text())
    ann["annotations"] = [a for a in ann["annotations"] if a["image_id"] != 1]
    ann_path.write_text(json.dumps(ann))
    ref = run_evaluation(get_benchmark("ehf")(ref_root, eval_context), oracle_predict_fn(pert),
                         batch_size=3)
    for k, v in ref.metrics.items():
        assert report.metrics[k] == pytest.approx(v, rel=1e-4, abs=1e-4), k  # float32 batches


def test_eval_cli_exit_status_3(tmp_path, eval_context, synthetic_smplx_dir, capsys):
    write_ehf(tmp_path / "data", eval_context, n=2)
    (tmp_path / "data" / "EHF" / "data" / "01_img.jpg").write_bytes(b"not a jpeg")
    tiny = {"embed_dim": 64, "depth": 2, "num_heads": 2}
    official = write_synthetic_official_checkpoint(tmp_path / "w.pth.tar", "smplerx_s32", **tiny)
    weights = tmp_path / "w.safetensors"
    convert_official_checkpoint(official, weights, "smplerx_s32", **tiny)
    rc = main(["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "data"),
               "--weights", str(weights), "--smplx-dir", str(synthetic_smplx_dir),
               "--out", str(tmp_path / "out"), "--no-chart"])
    out = capsys.readouterr().out
    assert rc == 3
    assert "skipped: " in out and "01_img.jpg" in out
    assert (tmp_path / "out").is_dir()
