"""``ehps eval --weights NAME`` resolves cached weight names (offline) exactly as a path, and an
uncached name says which command fetches it."""

from __future__ import annotations

import json

from eval_minidata import write_ehf

from ehps.cli.main import main
from ehps.modeling import convert_official_checkpoint
from ehps.modeling.synthetic import write_synthetic_official_checkpoint
from ehps.weights.manage import add_weights

TINY = {"embed_dim": 64, "depth": 2, "num_heads": 2}


def test_eval_by_cached_name_equals_eval_by_path(tmp_path, eval_context, synthetic_smplx_dir,
                                                 monkeypatch, capsys):
    monkeypatch.setenv("EHPS_WEIGHTS_DIR", str(tmp_path / "cache"))
    write_ehf(tmp_path / "data", eval_context, n=2)
    official = write_synthetic_official_checkpoint(tmp_path / "t.pth.tar", "smplerx_s32", seed=3,
                                                   **TINY)
    st = tmp_path / "tiny.safetensors"
    convert_official_checkpoint(official, st, "smplerx_s32", **TINY)
    add_weights(st, name="tiny_ehf")
    common = ["eval", "--benchmark", "ehf", "--data-root", str(tmp_path / "data"),
              "--smplx-dir", str(synthetic_smplx_dir), "--no-chart"]
    assert main([*common, "--weights", "tiny_ehf", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--weights", str(st), "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "ehf_smplerx.json").read_text())
    b = json.loads((tmp_path / "b" / "ehf_smplerx.json").read_text())
    assert a["metrics"] == b["metrics"] and a["counts"] == b["counts"]
    assert a["model"]["variant"] == "smplerx_s32"
    capsys.readouterr()
    assert main([*common, "--weights", "smplestx_h", "--out", str(tmp_path / "c")]) == 2
    assert "`ehps weights download smplestx_h`" in capsys.readouterr().err
