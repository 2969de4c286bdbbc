"""Crafted and broken SMPL-X files: every one ends in a BodyModelError naming the file, never in a
crash, a hang or a foreign exception.

References: scipy's own ``toarray`` of *valid* sparse matrices (our checked rebuild must equal
it); the declared sizes of forged arrays (refused before any allocation, in milliseconds); the
CLI contract (one line, exit status 2) for the case that used to kill ``ehps synth`` / ``infer``
with SIGSEGV.
"""

from __future__ import annotations

import pickle
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from robust_helpers import assert_one_line_error

from ehps.bodymodels.io import load_smplx_data, safe_unpickle
from ehps.errors import BodyModelError
from ehps.testing.crafted import (
    ForgedArray,
    deep_list_pickle,
    forged_array_pickle,
    forged_sparse,
    shared_list_bomb,
)
from ehps.testing.isolation import IsolatedRunner
from ehps.testing.mutations import rezip


@pytest.fixture(scope="module")
def model_pkl(synthetic_smplx_dir: Path) -> dict:
    with open(synthetic_smplx_dir / "SMPLX_NEUTRAL.pkl", "rb") as fh:
        return pickle.load(fh)  # our own synthetic file: trusted


def _csc_parts(dense: np.ndarray) -> dict:
    m = scipy.sparse.csc_matrix(dense)
    return {"data": m.data.copy(), "indices": m.indices.copy(), "indptr": m.indptr.copy()}


def _write(tmp_path: Path, raw: dict, name: str = "SMPLX_NEUTRAL.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(raw, protocol=2))
    return path


def _crafted_model(tmp_path: Path, model_pkl: dict, **fields) -> Path:
    dense = model_pkl["J_regressor"].toarray()
    parts = {**_csc_parts(dense), **fields}
    shape = parts.pop("shape", dense.shape)
    return _write(tmp_path, {**model_pkl, "J_regressor": forged_sparse("csc", shape, **parts)})


def test_out_of_range_sparse_indices_do_not_crash(tmp_path, model_pkl):
    """The reported segfault: indices beyond the matrix. Loaded in a worker process so that a
    regression shows as a crash instead of killing the test run."""
    parts = _csc_parts(model_pkl["J_regressor"].toarray())
    parts["indices"][5] = 50_000_000
    path = _crafted_model(tmp_path, model_pkl, indices=parts["indices"])
    with IsolatedRunner("bodymodel", timeout_s=60) as runner:
        outcome = runner.run(path)
    assert outcome.status == "clear", outcome
    assert "indices" in outcome.detail and str(path) in outcome.detail


@pytest.mark.parametrize("case", ["negative_index", "indptr_not_monotone", "indptr_too_short",
                                  "indptr_past_data", "huge_shape", "float_indices"])
def test_every_sparse_field_is_checked(tmp_path, model_pkl, case):
    dense = model_pkl["J_regressor"].toarray()
    parts = _csc_parts(dense)
    if case == "negative_index":
        parts["indices"][3] = -1
    elif case == "indptr_not_monotone":
        parts["indptr"][10], parts["indptr"][11] = parts["indptr"][11] + 1, parts["indptr"][10]
    elif case == "indptr_too_short":
        parts["indptr"] = parts["indptr"][:-7]
    elif case == "indptr_past_data":
        parts["indptr"][-1] = len(parts["data"]) + 1000
    elif case == "huge_shape":
        parts["shape"] = (2**40, 2**40)
    else:
        parts["indices"] = parts["indices"].astype(np.float64)
    path = _crafted_model(tmp_path, model_pkl, **parts)
    with pytest.raises(BodyModelError, match="sparse") as info:
        load_smplx_data(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_valid_sparse_matrices_equal_scipy(tmp_path, fmt):
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(7, 11)) * (rng.random((7, 11)) < 0.3)
    matrix = getattr(scipy.sparse, f"{fmt}_matrix")(dense)
    if fmt == "coo":  # duplicate entries are summed, as scipy does
        matrix = scipy.sparse.coo_matrix(
            (np.r_[matrix.data, [1.5]], (np.r_[matrix.row, [2]], np.r_[matrix.col, [3]])),
            shape=dense.shape)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"matrix": matrix}, protocol=2))
    got = safe_unpickle(path)["matrix"]
    np.testing.assert_array_equal(got.toarray(), matrix.toarray())


@pytest.mark.parametrize("payload", ["2tib_f8", "object_bomb", "shared_lists", "deep_lists"])
def test_forged_pickles_are_refused_fast(tmp_path, payload):
    data = {
        "2tib_f8": lambda: forged_array_pickle((2**38,), "f8"),
        "object_bomb": lambda: forged_array_pickle((2**36,), "O", [1, 2]),
        "shared_lists": lambda: shared_list_bomb(80),
        "deep_lists": lambda: deep_list_pickle(100_000),
    }[payload]()
    path = tmp_path / "SMPLX_NEUTRAL.pkl"
    path.write_bytes(data)
    t0 = time.perf_counter()
    with pytest.raises(BodyModelError, match="SMPLX_NEUTRAL.pkl"):
        load_smplx_data(path)
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize(("key", "value", "message"), [
    ("f", lambda m: m["f"].astype(np.int64) + 10**6, "indices outside"),
    ("lmk_faces_idx", lambda m: m["lmk_faces_idx"] * 0 - 3, "indices outside"),
    ("kintree_table", lambda m: np.stack([np.r_[-1, np.arange(2, 56)], np.arange(55)]),
     "kinematic tree"),
    ("posedirs", lambda m: m["posedirs"][:, :, :10], "unexpected shapes"),
    ("v_template", lambda m: np.array(["a", "b"]), "numeric"),
    ("weights", lambda m: ForgedArray((10475, 55), "f8", b"\0" * 8), "needs"),
])
def test_malformed_arrays_name_the_key(tmp_path, model_pkl, key, value, message):
    raw = {**model_pkl, key: value(model_pkl)}
    path = _write(tmp_path, raw)
    with pytest.raises(BodyModelError, match=message) as info:
        load_smplx_data(path)
    assert str(path) in str(info.value)


def test_npz_with_a_forged_2tib_header_is_refused_before_allocation(tmp_path,
                                                                      synthetic_smplx_dir):
    src = synthetic_smplx_dir / "SMPLX_NEUTRAL.npz"
    with zipfile.ZipFile(src) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (274877906944,), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    forged = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64
    members = [(i, forged if i.filename == "posedirs.npy" else d) for i, d in members]
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    path.write_bytes(rezip(members))
    t0 = time.perf_counter()
    with pytest.raises(BodyModelError, match=r"posedirs.*declares shape.*2\.0 TiB"):
        load_smplx_data(path)
    assert time.perf_counter() - t0 < 5.0


def test_synth_cli_on_the_crafted_model_prints_one_line(tmp_path, model_pkl, run_cli,
                                                          synthetic_smplx_dir):
    d = tmp_path / "smplx"
    d.mkdir()
    for name in ("MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy", "SMPLX_to_J14.pkl"):
        shutil.copy(synthetic_smplx_dir / name, d / name)
    parts = _csc_parts(model_pkl["J_regressor"].toarray())
    parts["indices"][5] = 50_000_000
    _crafted_model(d, model_pkl, indices=parts["indices"])
    rc, _, err = run_cli(["synth", "--out", tmp_path / "out", "--num", "2", "--smplx-dir", d])
    assert_one_line_error(rc, err, "synth", "SMPLX_NEUTRAL.pkl", "out of range")
