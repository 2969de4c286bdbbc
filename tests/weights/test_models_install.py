"""``ehps models install`` on synthetic archives in the official zip layouts (built from
``ehps.bodymodels.synthetic`` and ``ehps.evaluation.synthetic``): what lands where, that ehps's
own finders and loaders then use it, idempotence, conflicts, invalid and hostile files."""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ehps.cli.main import main
from ehps.errors import InputError
from ehps.weights.models_install import install_model_files

GENDERS = ("NEUTRAL", "MALE", "FEMALE")
SMPL_V11 = {"NEUTRAL": "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
            "MALE": "basicmodel_m_lbs_10_207_0_v1.1.0.pkl",
            "FEMALE": "basicmodel_f_lbs_10_207_0_v1.1.0.pkl"}


def _zip(path: Path, members: dict[str, Path | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, src in members.items():
            if isinstance(src, Path):
                z.write(src, name)
            else:
                z.writestr(name, src)
    return path


@pytest.fixture(scope="module")
def downloads(tmp_path_factory, synthetic_smplx_dir) -> dict[str, Path]:
    """The official downloads, synthetic content, official archive names and layouts."""
    from ehps.evaluation.synthetic import write_synthetic_smpl_files

    d = tmp_path_factory.mktemp("downloads")
    side = write_synthetic_smpl_files(tmp_path_factory.mktemp("side"), synthetic_smplx_dir)
    sx = synthetic_smplx_dir
    out = {
        "smplx": _zip(d / "models_smplx_v1_1.zip", {
            **{f"models/smplx/SMPLX_{g}.npz": sx / f"SMPLX_{g}.npz" for g in GENDERS},
            "models/smplx/SMPLX_NEUTRAL.pkl": sx / "SMPLX_NEUTRAL.pkl",
            "models/smplx/version.txt": b"1.1\n"}),
        "corr": _zip(d / "smplx_mano_flame_correspondences.zip", {
            "MANO_SMPLX_vertex_ids.pkl": sx / "MANO_SMPLX_vertex_ids.pkl",
            "SMPL-X__FLAME_vertex_ids.npy": sx / "SMPL-X__FLAME_vertex_ids.npy"}),
        "expose": _zip(d / "expose_data.zip", {
            "data/SMPLX_to_J14.pkl": sx / "SMPLX_to_J14.pkl",
            "data/expose_network.ckpt": b"not used by ehps"}),
        "smpl": _zip(d / "SMPL_python_v.1.1.0.zip", {
            f"SMPL_python_v.1.1.0/smpl/models/{SMPL_V11[g]}": side["smpl_dir"] / f"SMPL_{g}.pkl"
            for g in GENDERS}),
        "mano": _zip(d / "mano_v1_2.zip", {"mano_v1_2/models/MANO_LEFT.pkl": b"\x80\x02}q\x00."}),
        "smplx2smpl": side["smplx2smpl"],
        "h36m": side["h36m_regressor"],
    }
    out["sources"] = sx
    out["side"] = side["smpl_dir"].parent
    return out


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _inputs(downloads) -> list[Path]:
    return [downloads[k] for k in ("smplx", "corr", "expose", "smpl", "mano", "smplx2smpl",
                                   "h36m")]


def test_official_archives_install_and_ehps_finds_them(downloads, tmp_path, monkeypatch, capsys):
    from ehps.bodymodels.paths import find_smplx_dir
    from ehps.evaluation.benchmarks.base import EvalContext
    from ehps.evaluation.smpl import find_smpl_file

    dest = tmp_path / "bm"
    rc = main(["models", "install", *map(str, _inputs(downloads)), "--to", str(dest)])
    out = capsys.readouterr().out
    assert rc == 0, out
    sx = downloads["sources"]
    expected = {f"smplx/SMPLX_{g}.npz": sx / f"SMPLX_{g}.npz" for g in GENDERS}
    expected.update({
        "smplx/SMPLX_NEUTRAL.pkl": sx / "SMPLX_NEUTRAL.pkl",
        "smplx/MANO_SMPLX_vertex_ids.pkl": sx / "MANO_SMPLX_vertex_ids.pkl",
        "smplx/SMPL-X__FLAME_vertex_ids.npy": sx / "SMPL-X__FLAME_vertex_ids.npy",
        "smplx/SMPLX_to_J14.pkl": sx / "SMPLX_to_J14.pkl",
        "smplx2smpl.pkl": downloads["smplx2smpl"], "J_regressor_h36m.npy": downloads["h36m"],
        **{f"smpl/SMPL_{g}.pkl": downloads["side"] / "smpl" / f"SMPL_{g}.pkl" for g in GENDERS},
    })
    installed = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert installed == set(expected)
    for rel, src in expected.items():
        assert _sha(dest / rel) == _sha(src), rel
    assert "[missing]" not in out and out.count("[ready]") == 6
    assert "version.txt" not in installed and "skipped" in out
    # ehps's own finders and loaders use what was installed
    monkeypatch.setenv("EHPS_BODY_MODELS", str(dest))
    assert find_smplx_dir() == (dest / "smplx").resolve()
    assert find_smpl_file(None, "female") == dest / "smpl" / "SMPL_FEMALE.pkl"
    ctx = EvalContext.from_paths()
    assert ctx.smplx_to_smpl_matrix.shape == (6890, 10475)
    assert tuple(ctx.h36m_regressor.shape) == (17, 6890)
    assert ctx.smpl("male").num_vertices == 6890
    # a second run changes nothing
    report = install_model_files(_inputs(downloads), dest)
    assert report.ok and {r.status for r in report.results} == {"identical"}


def test_folder_input_and_default_destination(downloads, tmp_path, monkeypatch):
    import platformdirs

    folder = tmp_path / "Downloads"
    folder.mkdir()
    for key in ("smplx", "corr", "expose"):
        os.link(downloads[key], folder / downloads[key].name)
    data_home = tmp_path / "data_home"
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(data_home / app))
    report = install_model_files([folder])
    assert report.destination == (data_home / "ehps" / "body_models").resolve()
    assert report.ok and {r.status for r in report.results} == {"installed"}
    assert len(report.results) == 7  # 4 SMPL-X model files + 3 companions
    from ehps.weights.models_install import feature_status

    ready = dict(feature_status())
    assert ready[next(k for k in ready if k.startswith("ehps eval (EHF"))] == []
    assert any("SMPL_MALE" in m for m in ready[next(k for k in ready if "smplerx" in k)])


def test_different_file_is_never_replaced_silently(downloads, tmp_path, synthetic_smplx_dir):
    from ehps.bodymodels.synthetic import write_synthetic_smplx

    dest = tmp_path / "bm"
    assert install_model_files([downloads["smplx"]], dest).ok
    before = _sha(dest / "smplx/SMPLX_NEUTRAL.npz")
    other = write_synthetic_smplx(tmp_path / "other", seed=1, genders=("neutral",),
                                  write_pkl=False)
    report = install_model_files([other / "SMPLX_NEUTRAL.npz"], dest)
    assert not report.ok
    (r,) = report.results
    assert r.status == "conflict" and "--force" in r.detail
    assert _sha(dest / "smplx/SMPLX_NEUTRAL.npz") == before
    report = install_model_files([other / "SMPLX_NEUTRAL.npz"], dest, force=True)
    assert report.ok and report.results[0].status == "replaced"
    assert _sha(dest / "smplx/SMPLX_NEUTRAL.npz") == _sha(other / "SMPLX_NEUTRAL.npz")
    kept = list((dest / "smplx").glob("SMPLX_NEUTRAL.npz.replaced-*"))
    assert len(kept) == 1 and _sha(kept[0]) == before
    # two different inputs with the same name: neither is installed
    fresh = tmp_path / "fresh"
    report = install_model_files([downloads["smplx"], other / "SMPLX_NEUTRAL.npz"], fresh)
    bad = [r for r in report.results if r.target == "smplx/SMPLX_NEUTRAL.npz"]
    assert bad[0].status == "conflict" and not (fresh / "smplx/SMPLX_NEUTRAL.npz").exists()


def test_files_that_are_not_what_their_name_says(downloads, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    # an SMPL model under an SMPL-X name, a truncated npz, and a pickle that would run code
    (bad / "SMPLX_MALE.pkl").write_bytes((downloads["side"] / "smpl/SMPL_MALE.pkl").read_bytes())
    (bad / "SMPLX_FEMALE.npz").write_bytes(
        (downloads["sources"] / "SMPLX_FEMALE.npz").read_bytes()[:5000])
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (bad / "MANO_SMPLX_vertex_ids.pkl").write_bytes(pickle.dumps(Evil()))
    np.save(bad / "SMPL-X__FLAME_vertex_ids.npy", np.arange(10, dtype=np.int64))
    dest = tmp_path / "bm"
    rc = main(["models", "install", str(bad), "--to", str(dest)])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.count("invalid") == 4, out
    assert "refusing to load" in out and "5023" in out and "SMPL-X" in out
    assert not marker.exists()
    assert not any(p.is_file() for p in dest.rglob("*"))  # nothing installed, no leftovers


def test_archive_paths_cannot_escape_and_tar_works(downloads, tmp_path):
    evil = _zip(tmp_path / "evil.zip", {
        "../../escaped/SMPL-X__FLAME_vertex_ids.npy":
            downloads["sources"] / "SMPL-X__FLAME_vertex_ids.npy"})
    tgz = tmp_path / "spin_data.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(downloads["h36m"], "data/J_regressor_h36m.npy")
        link = tarfile.TarInfo("data/smplx2smpl.pkl")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    dest = tmp_path / "deep" / "bm"
    report = install_model_files([evil, tgz], dest)
    assert report.ok
    assert sorted(r.target for r in report.results) == ["J_regressor_h36m.npy",
                                                        "smplx/SMPL-X__FLAME_vertex_ids.npy"]
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
    assert any("not a regular file" in s for s in report.skipped)
    assert not (dest / "smplx2smpl.pkl").exists()


def test_dry_run_and_nothing_known(downloads, tmp_path):
    dest = tmp_path / "bm"
    report = install_model_files([downloads["corr"]], dest, dry_run=True)
    assert [r.status for r in report.results] == ["checked", "checked"]
    assert not dest.exists()
    with pytest.raises(InputError, match="SMPLX_NEUTRAL.npz"):
        install_model_files([downloads["mano"]], dest)
    with pytest.raises(InputError, match="no such file"):
        install_model_files([tmp_path / "missing.zip"], dest)
