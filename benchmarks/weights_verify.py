"""What the sha256 check of a cached weight name costs, next to what loading the weights costs.

``Predictor.from_pretrained("smplestx_h")`` resolves the name (:func:`ehps.weights.
resolve_weights`: hashes the cached file and compares it with its manifest) and then loads it
(:func:`ehps.modeling.load_model`). This script writes a converted ehps safetensors of a zoo
variant with constant weights into a temporary cache, then alternates, round by round, the two
steps on the same file (hash first on even rounds, load first on odd ones) and prints the
medians, the hashing throughput and the ratio ``verify / load``.

Usage (wrap in the shared lock on a shared machine)::

    flock /tmp/ehps_bench.lock python benchmarks/weights_verify.py [--quick]
        [--variant smplestx_h] [--rounds 5]

``--quick`` uses ``smplerx_s32`` (128 MB) and 3 rounds; the default ``smplestx_h`` writes a
2.75 GB file (needs ~3 GB of disk and ~6 GB of memory).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _write_safetensors(path: Path, variant: str) -> int:
    from ehps.modeling.weights import _model_metadata, write_safetensors
    from ehps.modeling.zoo import build_model

    skeleton = build_model(variant, device="meta", init=False)
    tensors = ((k, torch.full(v.shape, 0.01, dtype=v.dtype))
               for k, v in skeleton.state_dict().items())
    return write_safetensors(path, tensors, _model_metadata(skeleton))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smplerx_s32, 3 rounds")
    parser.add_argument("--variant", default="smplestx_h")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    variant, rounds = ("smplerx_s32", 3) if args.quick else (args.variant, args.rounds)
    torch.set_num_threads(min(2, torch.get_num_threads()))

    from ehps.modeling import load_model
    from ehps.weights.store import CachedFile, CachedWeights, sha256_file, write_manifest

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EHPS_WEIGHTS_DIR"] = tmp
        from ehps.weights.resolve import resolve_weights

        folder = Path(tmp) / "bench"
        folder.mkdir()
        path = folder / "bench.safetensors"
        size = _write_safetensors(path, variant)
        write_manifest(CachedWeights("bench", variant, folder, None,
                                     CachedFile(path.name, sha256_file(path), size)))
        verify, load = [], []
        for r in range(rounds + 1):  # round 0 warms the page cache, not timed
            steps = [("verify", lambda: resolve_weights("bench")),
                     ("load", lambda: load_model(path))]
            for name, fn in steps if r % 2 == 0 else steps[::-1]:
                t = time.perf_counter()
                out = fn()
                dt = time.perf_counter() - t
                del out
                if r:
                    (verify if name == "verify" else load).append(dt)
    v, m = statistics.median(verify), statistics.median(load)
    print(f"variant {variant}: safetensors {size / 1e9:.2f} GB, {rounds} rounds "
          f"(torch threads {torch.get_num_threads()})")
    print(f"  verify (sha256 of the cached file)  median {v:7.3f} s   "
          f"({size / 1e9 / v:.2f} GB/s)")
    print(f"  load_model                           median {m:7.3f} s")
    print(f"  verify / load = {v / m:.2f}  (from_pretrained(name) costs {1 + v / m:.2f}x a load "
          "by path)")


if __name__ == "__main__":
    main()
