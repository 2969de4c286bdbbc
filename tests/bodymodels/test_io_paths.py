"""Model-file reading (npz, chumpy-free pkl, companion files) and model-file discovery."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from ehps.bodymodels import paths
from ehps.bodymodels.io import (
    REQUIRED_KEYS,
    load_flame_vertex_ids,
    load_j14_regressor,
    load_mano_vertex_ids,
    load_smplx_data,
    safe_unpickle,
)
from ehps.errors import BodyModelError

# ------------------------------------------------------------------------------ reading


def test_npz_and_pkl_give_the_same_arrays(synthetic_smplx_dir):
    a = load_smplx_data(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz")
    b = load_smplx_data(synthetic_smplx_dir / "SMPLX_NEUTRAL.pkl")  # sparse J_regressor inside
    assert set(a) == set(b) and set(REQUIRED_KEYS) <= set(a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # The object array (joint2num) of the npz is skipped, never unpickled.
    assert "joint2num" not in a


def test_companion_files(synthetic_smplx_dir):
    hands = load_mano_vertex_ids(synthetic_smplx_dir / "MANO_SMPLX_vertex_ids.pkl")
    assert set(hands) == {"left_hand", "right_hand"} and hands["left_hand"].dtype == np.int64
    assert load_flame_vertex_ids(synthetic_smplx_dir / "SMPL-X__FLAME_vertex_ids.npy").shape == (
        5023,)
    j14 = load_j14_regressor(synthetic_smplx_dir / "SMPLX_to_J14.pkl")
    assert j14.shape == (14, 10475)
    np.testing.assert_allclose(j14.sum(1), 1.0, atol=1e-6)


def _write_chumpy_pickle(path: Path, payload: dict) -> None:
    """Pickle ``payload`` with values of a class that claims to be ``chumpy.ch.Ch``, the way the
    official (Python 2, chumpy) files are written; the fake module is removed afterwards."""
    mod = types.ModuleType("chumpy.ch")

    class Ch:  # minimal look-alike: its state holds the value under "x"
        def __init__(self, x: np.ndarray) -> None:
            self.x = x

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    mod.Ch = Ch
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"] = types.ModuleType("chumpy")
    sys.modules["chumpy.ch"] = mod
    try:
        with open(path, "wb") as fh:
            pickle.dump({k: Ch(v) if k in ("shapedirs", "v_template") else v
                         for k, v in payload.items()}, fh, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_chumpy_pickle_without_chumpy(tmp_path, synthetic_smplx_dir):
    data = load_smplx_data(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz")
    payload = dict(data, J_regressor=scipy.sparse.csc_matrix(data["J_regressor"]))
    path = tmp_path / "SMPLX_NEUTRAL.pkl"
    _write_chumpy_pickle(path, payload)
    assert "chumpy" not in sys.modules
    loaded = load_smplx_data(path)
    for k in data:
        np.testing.assert_array_equal(loaded[k], data[k])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/ehps_pwned_by_pickle",))


def test_restricted_unpickler_refuses_code(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil()}))
    marker = Path("/tmp/ehps_pwned_by_pickle")
    marker.unlink(missing_ok=True)
    with pytest.raises(BodyModelError, match=r"refusing to load (posix|os)\.system"):
        load_smplx_data(path)
    with pytest.raises(BodyModelError, match="refusing"):
        safe_unpickle(path)
    assert not marker.exists()


def test_not_an_smplx_file(tmp_path, synthetic_smplx_dir):
    data = load_smplx_data(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz")
    bad = {k: v for k, v in data.items() if k not in ("posedirs", "lmk_faces_idx")}
    np.savez(tmp_path / "missing.npz", **bad)
    with pytest.raises(BodyModelError, match="missing key.*posedirs, lmk_faces_idx"):
        load_smplx_data(tmp_path / "missing.npz")
    smpl_like = dict(data, kintree_table=np.zeros((2, 24), np.int64),
                     J_regressor=np.zeros((24, 10475)))
    np.savez(tmp_path / "smpl.npz", **smpl_like)
    with pytest.raises(BodyModelError, match="does not look like an SMPL-X model"):
        load_smplx_data(tmp_path / "smpl.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(BodyModelError, match="cannot read"):
        load_smplx_data(tmp_path / "junk.npz")
    with pytest.raises(BodyModelError, match="unsupported"):
        load_smplx_data(_touch(tmp_path / "model.obj"))
    with pytest.raises(BodyModelError, match="not found"):
        load_smplx_data(tmp_path / "nothing.npz")


def _touch(p: Path) -> Path:
    p.write_bytes(b"")
    return p


# ---------------------------------------------------------------------------- discovery


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """Isolate discovery: no $EHPS_BODY_MODELS, and an empty platformdirs default."""
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    default = tmp_path / "userdata"
    monkeypatch.setattr(paths, "default_body_models_dir", lambda: default / "body_models")
    return default / "body_models"


def test_discovery_order(no_env, monkeypatch, tmp_path, synthetic_smplx_dir):
    real = synthetic_smplx_dir.resolve()
    # explicit: the smplx dir, its parent, or a model file
    assert paths.find_smplx_dir(real) == real
    assert paths.find_smplx_dir(real.parent) == real
    assert paths.find_smplx_dir(real / "SMPLX_MALE.npz") == real
    # environment variable: parent dir or the smplx dir itself
    monkeypatch.setenv(paths.ENV_VAR, str(real.parent))
    assert paths.find_smplx_dir() == real
    monkeypatch.setenv(paths.ENV_VAR, str(real))
    assert paths.find_smplx_dir() == real
    # default location
    monkeypatch.delenv(paths.ENV_VAR)
    no_env.mkdir(parents=True)
    (no_env / "smplx").symlink_to(real, target_is_directory=True)
    assert paths.find_smplx_dir() == real
    found = paths.describe_smplx_search()
    assert found[-1][0] == "default" and found[-1][2] is True


def test_missing_files_error_lists_places_and_names(no_env, monkeypatch, tmp_path,
                                                    synthetic_smplx_dir):
    with pytest.raises(BodyModelError) as err:
        paths.find_smplx_dir()
    msg = str(err.value)
    for text in ("explicit path", paths.ENV_VAR, str(no_env / "smplx"), "SMPLX_NEUTRAL.npz",
                 "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy", "SMPLX_to_J14.pkl",
                 "https://smpl-x.is.tue.mpg.de", "licence"):
        assert text in msg
    # A wrong explicit path is an error even when other places would have files.
    monkeypatch.setenv(paths.ENV_VAR, str(synthetic_smplx_dir))
    with pytest.raises(BodyModelError, match="given path"):
        paths.find_smplx_dir(tmp_path / "typo")
    listed = paths.describe_smplx_search(tmp_path / "typo")  # all places, for `ehps info`
    assert [(src, found) for src, _, found in listed] == [
        ("explicit", False), (f"${paths.ENV_VAR}", False), (f"${paths.ENV_VAR}", True),
        ("default", False)]
