"""The catalog (every zoo variant, official numbers), ``ehps weights add / list / path / verify /
remove`` on full-size official-format files (variant detected from the shapes), tampering
(quarantine), name resolution errors and ``ehps info``."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch

from ehps.cli.main import main
from ehps.errors import CheckpointError, InputError
from ehps.weights.catalog import LICENCE, get_source, list_sources, load_extra_sources
from ehps.weights.resolve import resolve_weights
from ehps.weights.store import get_cached

#: README "Pretrained Models" table of SMPLer-X (MPE, #Params): the published figures.
README_MPE = {"smplerx_s32": 82.6, "smplerx_b32": 74.3, "smplerx_l32": 66.2,
              "smplerx_h32": 63.0, "smplerx_h32_correct": 59.7}
README_PARAMS = {"smplerx_s32": 32, "smplerx_b32": 103, "smplerx_l32": 327, "smplerx_h32": 662}


def _official_file(path, variant: str, fill: float = 0.0):
    """A full-size official-format checkpoint with constant weights (shapes are what matter;
    writing random ones takes seconds)."""
    from ehps.modeling.synthetic import official_network_dict
    from ehps.modeling.zoo import build_model

    skeleton = build_model(variant, device="meta", init=False)
    model_sd = {k: torch.full(v.shape, fill, dtype=v.dtype) for k, v in
                skeleton.state_dict().items()}
    holder = torch.nn.Module()
    holder.state_dict = lambda: model_sd  # official_network_dict reads model.state_dict()
    torch.save({"epoch": 9, "network": official_network_dict(holder)}, path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("EHPS_WEIGHTS_DIR", str(d))
    return d


def test_catalog_covers_every_zoo_variant_with_official_facts():
    from ehps.modeling.zoo import list_models

    sources = {s.name: s for s in list_sources()}
    assert set(list_models()) <= set(sources)
    assert {s.variant for s in sources.values()} == set(list_models())
    for name, mpe in README_MPE.items():
        assert sources[name].mpe_mm == pytest.approx(mpe)
    from ehps.evaluation.published import load_published  # the table `ehps eval` prints

    printed = {e.variant: e.value for e in load_published().for_benchmark("mpe", "mpe")}
    assert printed == {n: sources[n].mpe_mm for n in printed}
    for name, params in README_PARAMS.items():
        assert sources[name].params_m == params
    assert all(s.licence == LICENCE and "S-Lab" in s.licence for s in sources.values())
    h = sources["smplestx_h"]
    assert (h.kind, h.location, h.filename) == ("hub", "waanqii/SMPLest-X", "smplest_x_h.pth.tar")
    assert h.mpe_mm is None and h.params_m is None  # not published in the README: left empty
    assert sources["smplerx_h32"].location == "caizhongang/SMPLer-X"
    assert all(sources[f"smplestx_{s}"].kind == "unreleased" for s in "sbl")
    for name in ("smplerx_s32", "smplerx_b32", "smplerx_l32", "smplerx_h32_correct"):
        assert sources[name].kind == "browser"
        assert sources[name].location.startswith("https://pjlab-my.sharepoint.cn/")
    assert get_source("SMPLest-X-H40").name == "smplestx_h"  # zoo aliases


def test_list_json_and_human(cache, capsys):
    assert main(["weights", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cache"] == str(cache.resolve())
    rows = {r["name"]: r for r in data["weights"]}
    assert rows["smplestx_h"]["url"] == \
        "https://huggingface.co/waanqii/SMPLest-X/blob/main/smplest_x_h.pth.tar"
    assert rows["smplerx_l32"]["mpe_mm"] == pytest.approx(66.2)
    assert all(r["cached"] is None for r in rows.values())
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "S-Lab License 1.0 (non-commercial)" in out
    assert "smplestx_h" in out and "waanqii/SMPLest-X" in out and "8.2 GB" in out


def test_extra_catalog_is_validated(tmp_path, monkeypatch):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps([{"name": "x", "variant": "smplerx_s32", "sha256": "abc"}]))
    with pytest.raises(InputError, match="64 hex"):
        load_extra_sources(bad)
    bad.write_text(json.dumps([{"name": "x", "variant": "smplerx_s32", "evil": 1}]))
    with pytest.raises(InputError, match="unknown.*evil"):
        load_extra_sources(bad)
    bad.write_text("{not json")
    monkeypatch.setenv("EHPS_WEIGHTS_CATALOG", str(bad))
    with pytest.raises(InputError, match="EHPS_WEIGHTS_CATALOG"):
        list_sources()


def test_add_detects_variant_links_and_converts(cache, tmp_path, capsys):
    from ehps.modeling import load_model

    src = _official_file(tmp_path / "smpler_x_s32.pth.tar", "smplerx_s32", 0.5)
    assert main(["weights", "add", str(src), "--convert"]) == 0
    entry = get_cached("smplerx_s32")
    assert entry is not None and entry.variant == "smplerx_s32"
    cached = entry.directory / "smpler_x_s32.pth.tar"
    assert os.path.samefile(cached, src)  # hard link, no second copy on the same file system
    assert entry.official.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert entry.origin == f"added:{src.resolve()}"
    model = load_model(resolve_weights("smplerx_s32"))
    assert model.config.name == "smplerx_s32"
    assert torch.all(model.encoder.pos_embed == 0.5)
    assert main(["weights", "path", "smplerx_s32"]) == 0
    assert capsys.readouterr().out.strip().endswith("smpler_x_s32.safetensors")
    # adding the same file again is a no-op; a different file under that name needs --force
    assert main(["weights", "add", str(src)]) == 0
    other = _official_file(tmp_path / "other.pth.tar", "smplerx_s32", 0.25)
    assert main(["weights", "add", str(other), "--name", "smplerx_s32"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["weights", "add", str(other), "--name", "smplerx_s32", "--force"]) == 0
    assert get_cached("smplerx_s32").official.sha256 == \
        hashlib.sha256(other.read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["weights", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["weights"]}
    assert rows["smplerx_s32"]["cached"]["path"] == str(get_cached("smplerx_s32").path)


def test_add_refuses_mismatches(cache, tmp_path, capsys):
    from ehps.modeling.synthetic import write_synthetic_official_checkpoint
    from modeling_tiny import TINY

    s32 = _official_file(tmp_path / "s32.pth.tar", "smplerx_s32")
    assert main(["weights", "add", str(s32), "--name", "smplestx_h"]) == 2
    assert "SMPLest-X-H (smplestx_h)" in capsys.readouterr().err
    assert main(["weights", "add", str(s32), "--variant", "smplerx_b32"]) == 2
    assert "holds 'smplerx_s32'" in capsys.readouterr().err
    tiny = write_synthetic_official_checkpoint(tmp_path / "t.pth.tar", "smplestx_s", **TINY)
    assert main(["weights", "add", str(tiny)]) == 2
    assert "--variant" in capsys.readouterr().err
    assert main(["weights", "add", str(tmp_path / "missing.pth.tar")]) == 2
    assert get_cached("smplerx_s32") is None and get_cached("smplestx_h") is None


def test_tampered_cache_file_is_quarantined(cache, tmp_path, capsys):
    src = _official_file(tmp_path / "smpler_x_s32.pth.tar", "smplerx_s32")
    assert main(["weights", "add", str(src)]) == 0
    cached = get_cached("smplerx_s32").directory / "smpler_x_s32.pth.tar"
    os.unlink(src)  # break the hard link, then flip one byte of the cached file
    data = bytearray(cached.read_bytes())
    data[-100] ^= 1
    cached.write_bytes(bytes(data))
    assert main(["weights", "verify"]) == 1
    assert "BAD  smplerx_s32/smpler_x_s32.pth.tar" in capsys.readouterr().out
    assert not cached.exists()
    moved = list((cache / ".quarantine").glob("*smpler_x_s32.pth.tar"))
    assert len(moved) == 1 and moved[0].read_bytes() == bytes(data)
    assert "expected sha256" in moved[0].with_name(moved[0].name + ".reason.txt").read_text()
    with pytest.raises(CheckpointError, match="missing.*ehps weights add FILE --name smplerx_s32"):
        resolve_weights("smplerx_s32")


def test_resolve_names_paths_and_errors(cache, tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"x")
    assert resolve_weights(f) == f and resolve_weights(str(f)) == f
    with pytest.raises(CheckpointError, match="weight file not found"):
        resolve_weights(tmp_path / "nope.pth.tar")
    with pytest.raises(CheckpointError, match="`ehps weights download smplestx_h`"):
        resolve_weights("smplestx_h40")
    with pytest.raises(CheckpointError, match="No official SMPLest-X-S weights were released"):
        resolve_weights("smplestx_s")
    with pytest.raises(CheckpointError, match="not a known weight name"):
        resolve_weights("my_finetune")


def test_remove_and_info(cache, tmp_path, capsys):
    src = _official_file(tmp_path / "smpler_x_s32.pth.tar", "smplerx_s32")
    assert main(["weights", "add", str(src), "--convert"]) == 0
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "smplerx_s32" in out and "safetensors" in out and str(cache.resolve()) in out
    assert main(["weights", "remove", "smplerx_s32", "--original-only"]) == 0
    entry = get_cached("smplerx_s32")
    assert entry.official is None and entry.path.suffix == ".safetensors"
    assert resolve_weights("smplerx_s32") == entry.path
    assert main(["weights", "remove", "smplerx_s32"]) == 0
    assert get_cached("smplerx_s32") is None and src.exists()


def test_docs_table_matches_the_catalog():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "weights.md"
    rows = {}
    for line in doc.read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells
    sources = {s.name: s for s in list_sources()}
    assert rows.keys() == sources.keys()
    for name, (_, title, _where, file, size, params, mpe) in rows.items():
        src = sources[name]
        assert title == src.title
        assert file.strip("`") == (src.filename or "—")
        assert size == (src.size_text or "—")
        assert params == (f"{src.params_m:g}M" if src.params_m else "—")
        assert mpe == (f"{src.mpe_mm:.1f}" if src.mpe_mm is not None else "—")
