"""``ehps eval`` end to end with synthetic official-format checkpoints (tiny networks), the
synthetic SMPL-X model and miniature benchmark layouts; plus its error messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from eval_minidata import write_ehf, write_humandata_benchmark

from ehps.cli.main import main
from ehps.evaluation.benchmarks import get_benchmark
from ehps.evaluation.report import render_markdown
from ehps.evaluation.runner import crop_sample, network_predict_fn, run_evaluation
from ehps.modeling import convert_official_checkpoint, load_model
from ehps.modeling.synthetic import write_synthetic_official_checkpoint

TINY = {"embed_dim": 64, "depth": 2, "num_heads": 2}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A tiny SMPLer-X checkpoint in the official format, converted to ehps safetensors (the
    file then names its own architecture, as a released one would by its shapes)."""
    d = tmp_path_factory.mktemp("weights")
    official = write_synthetic_official_checkpoint(d / "tiny.pth.tar", "smplerx_s32", seed=3,
                                                   **TINY)
    convert_official_checkpoint(official, d / "tiny.safetensors", "smplerx_s32", **TINY)
    return {"official": official, "safetensors": d / "tiny.safetensors"}


@pytest.fixture(scope="module")
def tiny_model(tiny_weights):
    return load_model(tiny_weights["official"], variant="smplerx_s32", **TINY)


def test_network_predict_fn_runs_an_official_checkpoint(tmp_path, eval_context, tiny_model):
    import torch

    write_ehf(tmp_path, eval_context, n=2)
    model = tiny_model
    ev = get_benchmark("ehf")(tmp_path, eval_context)
    report = run_evaluation(ev, network_predict_fn(model), batch_size=2)
    assert all(v is not None and math.isfinite(v) and v > 0 for v in report.metrics.values())
    # the runner feeds exactly the official crop: same prediction as a direct forward
    s = ev.samples()[0]
    patch, _, _ = crop_sample(s)
    with torch.inference_mode():
        direct = model(patch[None])
    out = network_predict_fn(model)(patch[None], [s])
    torch.testing.assert_close(out["cam_trans"], direct.cam_trans)


def test_smplestx_network_on_humandata(tmp_path, eval_context):
    d = tmp_path / "w"
    d.mkdir()
    path = write_synthetic_official_checkpoint(d / "x.pth.tar", "smplestx_h", seed=1, **TINY)
    model = load_model(path, variant="smplestx_h", **TINY)
    write_humandata_benchmark(tmp_path, eval_context, "p1_val.npz", "ARCTIC", n=11)
    ev = get_benchmark("arctic")(tmp_path, eval_context, protocol="smplestx",
                                 keep_hand_outliers=True)
    report = run_evaluation(ev, network_predict_fn(model), batch_size=2)
    assert report.counts["samples"] == 2
    assert all(math.isfinite(v) for v in report.metrics.values())


def test_cli_writes_json_markdown_and_chart(tmp_path, eval_context, synthetic_smplx_dir,
                                            tiny_weights, capsys):
    write_ehf(tmp_path / "data", eval_context, n=2)
    out = tmp_path / "out"
    rc = main(["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "data"),
               "--weights", str(tiny_weights["safetensors"]), "--smplx-dir",
               str(synthetic_smplx_dir), "--out", str(out), "--batch-size", "2"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "MPVPE (All)" in printed and "ehf_smplerx.png" in printed
    data = json.loads((out / "ehf_smplerx.json").read_text())
    assert data["benchmark"] == "ehf" and data["protocol"] == "smplerx"
    assert data["model"]["variant"] == "smplerx_s32"
    assert data["counts"]["samples_evaluated"] == 2
    assert set(data["metrics"]) >= {"mpvpe_all", "pa_mpjpe_hand"}
    pub = [p for p in data["published"] if p["metric"] == "mpvpe_all"]
    assert pub and pub[0]["value_mm"] == 62.3 and pub[0]["source_tag"] == "paper"
    assert pub[0]["source_urls"][0].startswith("https://")
    md = (out / "ehf_smplerx.md").read_text()
    assert "| MPVPE (All) |" in md and "62.3 [paper]" in md and "protocol: smplerx" in md
    png = (out / "ehf_smplerx.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_list(capsys):
    assert main(["eval", "--list"]) == 0
    text = capsys.readouterr().out
    for name in ("ehf", "agora_val", "agora_test", "ubody", "egobody", "pw3d", "arctic",
                 "renbody", "synhand", "humandata"):
        assert name in text
    assert "3DPW_test.json" in text


def test_cli_missing_data_lists_expected_files(tmp_path, synthetic_smplx_dir, tiny_weights,
                                               capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "empty"),
               "--weights", str(tiny_weights["safetensors"]), "--smplx-dir",
               str(synthetic_smplx_dir)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "EHF/data/EHF.json" in err and "_align.ply" in err


def test_cli_missing_smplx_is_explained(tmp_path, tiny_weights, capsys, monkeypatch):
    monkeypatch.delenv("EHPS_BODY_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "data").mkdir()
    rc = main(["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "data"),
               "--weights", str(tiny_weights["safetensors"])])
    assert rc == 2
    err = capsys.readouterr().err
    assert "No SMPL-X model files found" in err and "smpl-x.is.tue.mpg.de" in err


def test_cli_rejects_options_of_other_benchmarks(tmp_path, synthetic_smplx_dir, tiny_weights,
                                                 capsys):
    (tmp_path / "data").mkdir()
    rc = main(["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "data"),
               "--weights", str(tiny_weights["safetensors"]), "--resolution", "1280x720",
               "--smplx-dir", str(synthetic_smplx_dir)])
    assert rc == 2
    assert "--resolution does not apply" in capsys.readouterr().err
    assert main(["eval", "--benchmark", "ehf"]) == 2
    assert "--data-root" in capsys.readouterr().err


def test_cli_limit_is_reported(tmp_path, eval_context, synthetic_smplx_dir, tiny_weights):
    write_ehf(tmp_path / "data", eval_context, n=3)
    rc = main(["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "data"),
               "--weights", str(tiny_weights["safetensors"]), "--smplx-dir",
               str(synthetic_smplx_dir), "--out", str(tmp_path / "o"), "--limit", "1",
               "--no-chart"])
    assert rc == 0
    data = json.loads((tmp_path / "o" / "ehf_smplerx.json").read_text())
    assert data["counts"]["samples_evaluated"] == 1
    assert any("--limit" in n for n in data["notes"])
    assert not (tmp_path / "o" / "ehf_smplerx.png").exists()
    assert np.isfinite(data["metrics"]["mpvpe_all"])


def _build(name: str, root, ctx):
    """Miniature layout of ``name`` and the evaluator options it needs."""
    from eval_minidata import write_agora_test, write_agora_val, write_pw3d, write_ubody

    hd = {
        "egobody": ("egobody_egocentric_test_230425_043_fix_betas.npz", "EgoBody",
                    "preprocessed_datasets", {}),
        "renbody": ("renbody_test_highrescam_230517_78_0_fix_betas.npz", "RenBody",
                    "preprocessed_datasets", {}),
        "arctic": ("p1_val.npz", "ARCTIC", "preprocessed_datasets", {}),
        "synhand": ("synhand_20241018_test_241023_1188_fix_betas.npz", "img/synbody", "annot", {}),
        "humandata": ("any.npz", "imgs", "", {"annotation": "any.npz", "image_dir": "imgs"}),
    }
    if name == "ehf":
        write_ehf(root, ctx, n=2)
        return {}
    if name == "agora_val":
        write_agora_val(root, ctx)
        return {}
    if name == "agora_test":
        write_agora_test(root, ctx)
        return {"output_dir": root / "submission"}
    if name == "ubody":
        write_ubody(root, ctx)
        return {"sample_interval": 2}
    if name == "pw3d":
        write_pw3d(root, ctx, n=2)
        return {}
    ann, img, folder, opts = hd[name]
    n = 3 if name in ("egobody", "humandata") else 11  # interval 1 vs 10: 3 or 2 samples
    write_humandata_benchmark(root, ctx, ann, img, n=n, folder=folder)
    return opts


@pytest.mark.parametrize(
    "name", ["ehf", "agora_val", "agora_test", "ubody", "egobody", "pw3d", "arctic", "renbody",
             "synhand", "humandata"],
)
def test_every_benchmark_runs_a_synthetic_official_checkpoint(name, tmp_path, eval_context,
                                                              tiny_model):
    model = tiny_model
    options = _build(name, tmp_path, eval_context)
    ev = get_benchmark(name)(tmp_path, eval_context, **options)
    report = run_evaluation(ev, network_predict_fn(model), batch_size=4)
    assert report.counts["samples_evaluated"] >= 2
    if name == "agora_test":
        assert report.extra["prediction_files"] == report.counts["samples_evaluated"]
        assert "107.2 [paper]" in render_markdown(report)  # the published figure, for reference
        return
    assert report.metrics and all(
        v is not None and math.isfinite(v) and v > 0 for v in report.metrics.values()
    ), report.metrics
