"""Property-based fuzzing of the five file loaders: whatever hypothesis makes of a valid file
(byte edits, zip-member and ``.npy``-header forgeries, crafted pickles, forged metadata), the
load either succeeds or raises ehps's own error. Every load runs in a worker process
(:class:`ehps.testing.isolation.IsolatedRunner`), so a segmentation fault or a hang fails the test
instead of killing the run.

The default run is small and reproducible (``EHPS_FUZZ_EXAMPLES`` examples per target, default 8,
derandomized); ``benchmarks/robustness.py`` runs the large budget. A failing input is written to
``$EHPS_FUZZ_FINDINGS`` (default: the test's tmp folder) for replay.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ehps.testing.fuzz_targets import TARGETS, get_target  # noqa: E402
from ehps.testing.isolation import IsolatedRunner  # noqa: E402

EXAMPLES = int(os.environ.get("EHPS_FUZZ_EXAMPLES", "8"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="EHPS_FUZZ_EXAMPLES" not in
                os.environ, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def runner():
    with IsolatedRunner("image", timeout_s=30.0) as r:
        yield r


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("fuzz_seeds")
    out = {}
    for name, target in TARGETS.items():
        (root / name).mkdir()
        out[name] = target.make_seeds(root / name)
    return out


def _check(name: str, seeds: dict, runner: IsolatedRunner, seed_index: int, rng_seed: int,
           work: Path) -> None:
    target = get_target(name)
    files = seeds[name]
    src = files[seed_index % len(files)]
    data = target.mutate(np.random.default_rng(rng_seed), src.read_bytes(), src)
    suffix = ".pth.tar" if src.name.endswith(".pth.tar") else src.suffix
    path = work / f"{src.name.split('.')[0]}_input{suffix}"
    path.write_bytes(data)
    outcome = runner.run(path, name)
    if outcome.status not in ("ok", "clear"):
        keep = Path(os.environ.get("EHPS_FUZZ_FINDINGS", work))
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{name}_{rng_seed}{suffix}").write_bytes(data)
        pytest.fail(f"{name}: {outcome.status}: {outcome.detail} (input kept in {keep})")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_loaders_end_in_success_or_a_clear_error(name, seeds, runner, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"fuzz_{name}")
    n = max(2, EXAMPLES // 3) if name == "bodymodel" else EXAMPLES  # ~1 s per load

    @settings(FUZZ, max_examples=n)
    @given(seed_index=st.integers(0, 7), rng_seed=st.integers(0, 2**32 - 1))
    def check(seed_index: int, rng_seed: int) -> None:
        _check(name, seeds, runner, seed_index, rng_seed, work)

    check()


def test_seeds_load(seeds, runner):
    for name, files in seeds.items():
        for f in files:
            assert runner.run(f, name).status == "ok", f


def test_the_harness_sees_crashes_hangs_and_foreign_errors(tmp_path):
    cases = {"segv": "crash", "hang": "hang", "raise": "foreign", "clear": "clear", "fine": "ok"}
    with IsolatedRunner("selftest", timeout_s=3.0, preload=False) as r:
        assert r.run(_write(tmp_path, "warm", b"fine")).status == "ok"
        for word, status in cases.items():
            outcome = r.run(_write(tmp_path, word, word.encode()))
            assert outcome.status == status, (word, outcome)
        assert r.restarts == 2  # after the crash and after the hang


def _write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / f"{name}.txt"
    p.write_bytes(data)
    return p
