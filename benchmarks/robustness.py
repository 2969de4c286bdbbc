"""Fuzz the file loaders of ehps, crash-isolated, and count how each load ends.

For each target (image, video, humandata, checkpoint, bodymodel; see
:mod:`ehps.testing.fuzz_targets`) the script writes a few valid seed files, then for ``--seconds``
mutates a random seed (byte edits, zip-member and ``.npy``-header edits, crafted pickles and
metadata, bombs) and loads the result in a worker process with a memory limit
(:class:`ehps.testing.isolation.IsolatedRunner`). Each load ends as:

  ok       the file loaded;
  clear    ehps's own one-line error (EhpsError);
  foreign  any other exception (a finding);
  crash    the worker died (e.g. SIGSEGV; a finding);
  hang     no answer within --timeout seconds (a finding).

Targets run one after another (the machine may be shared). Findings are saved with their
detail under --findings. The exit status is 1 when any foreign exception, crash or hang occurred.

Usage::

    python benchmarks/robustness.py                    # 5 minutes per target
    python benchmarks/robustness.py --quick            # 15 s per target
    python benchmarks/robustness.py --targets bodymodel humandata --seconds 600
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ehps.testing.fuzz_targets import TARGETS, get_target
from ehps.testing.isolation import STATUSES, IsolatedRunner


def fuzz_target(name: str, seconds: float, seed: int, timeout: float, findings: Path | None,
                work: Path) -> dict:
    """Fuzz one target for ``seconds`` (fuzz time, seed building excluded); return its counts."""
    target = get_target(name)
    seed_dir = work / name / "seeds"
    seed_dir.mkdir(parents=True)
    seeds = target.make_seeds(seed_dir)
    blobs = [s.read_bytes() for s in seeds]
    rng = np.random.default_rng(seed)
    counts = collections.Counter({s: 0 for s in STATUSES})
    signatures: collections.Counter[str] = collections.Counter()
    slowest = 0.0
    with IsolatedRunner(name, timeout_s=timeout) as runner:
        for s in seeds:  # warm-up: imports, and every seed must load
            outcome = runner.run(s)
            if outcome.status != "ok":
                raise SystemExit(f"seed {s} does not load: {outcome}")
        t0 = time.perf_counter()
        i = 0
        while time.perf_counter() - t0 < seconds:
            k = int(rng.integers(len(seeds)))
            data = target.mutate(rng, blobs[k], seeds[k])
            path = work / name / f"input{seeds[k].suffix}"
            if seeds[k].name.endswith(".pth.tar"):
                path = work / name / f"{seeds[k].name.split('.')[0]}_input.pth.tar"
            path.write_bytes(data)
            outcome = runner.run(path)
            counts[outcome.status] += 1
            slowest = max(slowest, outcome.seconds)
            if outcome.status in ("foreign", "crash", "hang"):
                signature = outcome.detail.split(":")[0] + " " + outcome.detail.split(" at ")[-1]
                signatures[f"{outcome.status}: {signature[:160]}"] += 1
                if findings is not None:
                    findings.mkdir(parents=True, exist_ok=True)
                    stem = f"{name}_{outcome.status}_{i:05d}"
                    (findings / f"{stem}{path.suffix}").write_bytes(data)
                    (findings / f"{stem}.txt").write_text(outcome.detail + "\n")
            i += 1
        elapsed = time.perf_counter() - t0
    return {"target": name, "inputs": sum(counts.values()), **counts,
            "fuzz_seconds": round(elapsed, 1), "inputs_per_s": round(sum(counts.values())
                                                                       / elapsed, 2),
            "slowest_load_s": round(slowest, 2), "seeds": len(seeds),
            "restarts": runner.restarts, "findings": dict(signatures.most_common(20))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--seconds", type=float, default=300.0, help="fuzz time per target")
    parser.add_argument("--quick", action="store_true", help="15 s per target")
    parser.add_argument("--timeout", type=float, default=20.0, help="a load longer is a hang")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--findings", type=Path, default=None,
                        help="folder for inputs that ended foreign / crash / hang")
    parser.add_argument("--json", type=Path, default=None, help="also write the counts here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # mutated zips, on purpose
    seconds = 15.0 if args.quick else args.seconds
    rows = []
    header = (f"{'target':11s} {'inputs':>7s} {'ok':>6s} {'clear':>6s} {'foreign':>7s} "
              f"{'crash':>5s} {'hang':>4s} {'fuzz s':>7s} {'in/s':>6s} {'max s':>6s}")
    print(f"fuzzing {', '.join(args.targets)} for {seconds:.0f} s each (timeout {args.timeout:.0f}"
          f" s, seed {args.seed})", flush=True)
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="ehps-fuzz-") as tmp:
        for j, name in enumerate(args.targets):
            row = fuzz_target(name, seconds, args.seed + j, args.timeout, args.findings,
                              Path(tmp))
            rows.append(row)
            print(f"{row['target']:11s} {row['inputs']:7d} {row['ok']:6d} {row['clear']:6d} "
                  f"{row['foreign']:7d} {row['crash']:5d} {row['hang']:4d} "
                  f"{row['fuzz_seconds']:7.1f} {row['inputs_per_s']:6.2f} "
                  f"{row['slowest_load_s']:6.2f}", flush=True)
            for sig, n in row["findings"].items():
                print(f"    {n:5d} x {sig}", flush=True)
    print(header)
    for row in rows:
        print(f"{row['target']:11s} {row['inputs']:7d} {row['ok']:6d} {row['clear']:6d} "
              f"{row['foreign']:7d} {row['crash']:5d} {row['hang']:4d} "
              f"{row['fuzz_seconds']:7.1f} {row['inputs_per_s']:6.2f} {row['slowest_load_s']:6.2f}")
    bad = sum(r["foreign"] + r["crash"] + r["hang"] for r in rows)
    total = sum(r["inputs"] for r in rows)
    print(f"total: {total} inputs, {bad} foreign exceptions / crashes / hangs")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
