"""From nothing to inference by name: download from the loopback Hub, then ``ehps infer
--weights NAME`` and ``Predictor.from_pretrained(NAME)`` in a child process with no network
(``unshare -n``, or a socket guard where namespaces are not allowed). The outputs equal those of
the same weights given by path; no network module is even imported. An uncached name stops with
the command that fetches it, without any request."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
from weights_helpers import FILENAME, REPO, catalog_entry

from ehps.cli.main import main
from ehps.weights.manage import download_weights
from offline_run import offline_python

BOXES = [[16, 72, 178, 408]]

CHILD = """
import sys
from ehps.cli.main import main
from ehps.inference.predictor import Predictor
rc = main(sys.argv[1:])
assert rc == 0, rc
p = Predictor.from_pretrained("tiny_hub", device="cpu")
assert p.estimator.model.config.name == "smplestx_s", p.name
for mod in ("ehps.weights.fetch", "huggingface_hub", "ehps.weights.manage"):
    assert mod not in sys.modules, mod
print("ok")
"""

def test_download_then_infer_by_name_offline(hub_env, tiny_ckpt, tmp_path, assets_dir,
                                             synthetic_smplx_dir):
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    entry = download_weights("tiny_hub", convert=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(assets_dir / "basketball1.png", photos / "basketball1.png")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps(BOXES))
    common = [str(photos), "--boxes", str(boxes), "--smplx-path", str(synthetic_smplx_dir),
              "--device", "cpu", "--quiet"]
    n_requests = len(hub_env.hub.requests)

    # one child without network: `ehps infer --weights NAME`, then from_pretrained(NAME)
    cmd, env = offline_python(["-c", CHILD, "infer", *common, "--weights", "tiny_hub",
                               "--out", str(tmp_path / "by_name")], tmp_path / "hook")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr
    assert len(hub_env.hub.requests) == n_requests  # the server saw nothing more

    # reference: the same converted file given by its path, in this process
    assert main(["infer", *common, "--checkpoint", str(entry.path),
                 "--out", str(tmp_path / "by_path")]) == 0
    names = sorted(p.name for p in (tmp_path / "by_path" / "smplx").glob("*.npz"))
    assert names == sorted(p.name for p in (tmp_path / "by_name" / "smplx").glob("*.npz"))
    assert names
    for name in names:
        with np.load(tmp_path / "by_name" / "smplx" / name) as a, \
                np.load(tmp_path / "by_path" / "smplx" / name) as b:
            assert a.files == b.files
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k])


def test_uncached_name_names_the_command(hub_env, tmp_path, assets_dir, capsys, monkeypatch):
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copy(assets_dir / "basketball1.png", tmp_path / "basketball1.png")
    rc = main(["infer", str(tmp_path / "basketball1.png"), "--weights", "tiny_hub",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "`ehps weights download tiny_hub`" in capsys.readouterr().err
    assert not (hub_env.cache / "tiny_hub").exists()
    assert hub_env.hub.requests == []
