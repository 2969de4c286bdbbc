"""``ehps weights download`` against a loopback Hugging Face Hub and a plain HTTP server serving
synthetic official-format checkpoints: the bytes, the manifest, conversion, resuming (dropped
connection; killed process), checksum and architecture failures (quarantine), offline mode,
gated repositories, browser-only and unreleased sources."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from weights_helpers import FILENAME, REPO, catalog_entry

from ehps.cli.main import main
from ehps.errors import CheckpointError, DownloadError
from ehps.weights.manage import download_weights
from ehps.weights.resolve import resolve_weights
from ehps.weights.store import get_cached


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hub_download_records_the_hub_sha_and_commit(hub_env, tiny_ckpt):
    f = hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    entry = download_weights("tiny_hub")
    path = entry.directory / FILENAME
    assert path.read_bytes() == tiny_ckpt.data
    assert entry.official.sha256 == _sha(tiny_ckpt.data) and entry.official.size == len(f.data)
    assert entry.origin == f"hub:{REPO}@{hub_env.hub.repos[REPO].commit}/{FILENAME}"
    # the Hub answered the HEAD on /resolve, the bytes came from the "CDN" host
    heads = [r for r in hub_env.hub.requests if r["method"] == "HEAD"]
    assert heads and "/resolve/main/" in str(heads[0]["path"])
    # (huggingface_hub itself may also GET /api/... registries: not file traffic)
    gets = [r for r in hub_env.hub.requests
            if r["method"] == "GET" and not str(r["path"]).startswith("/api/")]
    assert gets and all(str(r["path"]).startswith("/cdn/") for r in gets)
    assert all(str(r["host"]).startswith("localhost") for r in gets)
    # the manifest is what resolve_weights reads back, offline
    assert resolve_weights("tiny_hub") == path
    manifest = json.loads((entry.directory / "manifest.json").read_text())
    assert manifest["official"]["sha256"] == _sha(tiny_ckpt.data)
    # a second download is a no-op (verified, not fetched again)
    n = len(hub_env.hub.requests)
    download_weights("tiny_hub")
    assert len(hub_env.hub.requests) == n


def test_convert_writes_a_strictly_loadable_safetensors(hub_env, tiny_ckpt):
    from ehps.modeling import load_model

    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    assert main(["weights", "download", "tiny_hub", "--convert"]) == 0
    entry = get_cached("tiny_hub")
    assert entry.converted is not None and entry.path.suffix == ".safetensors"
    assert resolve_weights("tiny_hub") == entry.path  # inference prefers the safetensors
    # independent reference: the official file loaded directly by the checkpoint importer
    ref = load_model(tiny_ckpt.path, variant=tiny_ckpt.variant, **tiny_ckpt.config).state_dict()
    got = load_model(entry.path).state_dict()
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0)


def test_dropped_connection_resumes_with_a_range_request(hub_env, tiny_ckpt):
    half = len(tiny_ckpt.data) // 2
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data, drop_after=half)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    entry = download_weights("tiny_hub")
    assert (entry.directory / FILENAME).read_bytes() == tiny_ckpt.data
    ranges = hub_env.hub.ranges("/cdn/")
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= half


def test_expired_signed_url_is_resolved_again(hub_env, tiny_ckpt):
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data, drop_after=300_000, expiring=True)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    entry = download_weights("tiny_hub")
    assert (entry.directory / FILENAME).read_bytes() == tiny_ckpt.data
    cdn = [(r["path"], r["range"]) for r in hub_env.hub.requests
           if r["method"] == "GET" and str(r["path"]).startswith("/cdn/")]
    # first GET, the resume with the old (now refused) URL, the resume with a fresh one
    assert [rng for _, rng in cdn] == [None, "bytes=300000-", "bytes=300000-"]
    assert cdn[1][0] != cdn[2][0]
    assert len([r for r in hub_env.hub.requests if r["method"] == "HEAD"]) == 2


def test_killed_download_resumes_in_the_next_run(hub_env, tiny_ckpt, tmp_path):
    f = hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data, throttle=0.02)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    cmd = [sys.executable, "-m", "ehps", "weights", "download", "tiny_hub"]
    child = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while f.sent < len(tiny_ckpt.data) // 2 and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    part = hub_env.cache / "tiny_hub" / f"{FILENAME}.part"
    assert part.is_file() and 0 < part.stat().st_size < len(tiny_ckpt.data)
    assert get_cached("tiny_hub") is None  # nothing recorded for a partial file
    kept = part.stat().st_size
    f.throttle = 0.0
    run = subprocess.run(cmd, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert hub_env.hub.ranges("/cdn/")[-1] == f"bytes={kept}-"
    entry = get_cached("tiny_hub")
    assert (entry.directory / FILENAME).read_bytes() == tiny_ckpt.data
    assert entry.official.sha256 == _sha(tiny_ckpt.data)
    assert not part.exists()


def test_hub_sha_mismatch_quarantines_the_file(hub_env, tiny_ckpt):
    bad = bytearray(tiny_ckpt.data)
    bad[len(bad) // 2] ^= 0xFF
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data, serve=bytes(bad))
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    with pytest.raises(DownloadError, match="sha256 mismatch") as err:
        download_weights("tiny_hub")
    assert _sha(tiny_ckpt.data) in str(err.value) and _sha(bytes(bad)) in str(err.value)
    quarantined = list((hub_env.cache / ".quarantine").glob(f"*{FILENAME}"))
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == bytes(bad)
    assert str(quarantined[0]) in str(err.value)
    assert get_cached("tiny_hub") is None
    assert not (hub_env.cache / "tiny_hub" / FILENAME).exists()
    with pytest.raises(CheckpointError, match="ehps weights download tiny_hub"):
        resolve_weights("tiny_hub")


def test_plain_url_with_published_sha(hub_env, tiny_ckpt):
    url = hub_env.hub.add_plain(FILENAME, tiny_ckpt.data, drop_after=100_000)
    hub_env.write_catalog(catalog_entry("tiny_url", "url", url, sha256=_sha(tiny_ckpt.data)))
    entry = download_weights("tiny_url")
    assert entry.origin == f"url:{url}" and entry.official.sha256 == _sha(tiny_ckpt.data)
    ranges = hub_env.hub.ranges("/plain/")
    assert ranges[0] is None and ranges[1] == "bytes=100000-"
    if_range = [r["if_range"] for r in hub_env.hub.requests if r["range"]]
    assert if_range and if_range[0]  # the resume is conditional on the same file version
    wrong = "0" * 64
    hub_env.write_catalog(catalog_entry("tiny_url2", "url", url, sha256=wrong))
    with pytest.raises(DownloadError, match=f"expected {wrong}"):
        download_weights("tiny_url2")
    assert list((hub_env.cache / ".quarantine").glob(f"*tiny_url2*{FILENAME}"))


def test_wrong_architecture_is_quarantined(hub_env, tiny_smplerx_bytes):
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_smplerx_bytes)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    with pytest.raises(DownloadError, match="does not hold the smplestx_s architecture"):
        download_weights("tiny_hub")
    assert get_cached("tiny_hub") is None
    assert list((hub_env.cache / ".quarantine").glob(f"*{FILENAME}"))


def test_offline_mode_and_unreachable_hub(hub_env, tiny_ckpt, monkeypatch, capsys):
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["weights", "download", "tiny_hub"]) == 2
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE" in err and "ehps weights add FILE" in err
    assert hub_env.hub.requests == []
    # not cached + offline: inference names the command that fetches it
    with pytest.raises(CheckpointError, match="`ehps weights download tiny_hub`"):
        resolve_weights("tiny_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{dead}")
    with pytest.raises(DownloadError, match="cannot reach"):
        download_weights("tiny_hub")


def test_gated_repo_needs_a_token(hub_env, tiny_ckpt, monkeypatch):
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data, token="hf_secret")
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    with pytest.raises(DownloadError, match="gated.*hf auth login"):
        download_weights("tiny_hub")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    entry = download_weights("tiny_hub")
    assert entry.official.sha256 == _sha(tiny_ckpt.data)
    head = [r for r in hub_env.hub.requests if r["method"] == "HEAD"][-1]
    assert head["authorization"] == "Bearer hf_secret"
    # the token goes to the Hub only, never to the CDN host
    assert all(r["authorization"] is None for r in hub_env.hub.requests
               if str(r["path"]).startswith("/cdn/"))


def test_missing_repo_and_file_are_named(hub_env, tiny_ckpt):
    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data)
    hub_env.write_catalog(catalog_entry("no_repo", "hub", "nobody/nothing"),
                          catalog_entry("no_file", "hub", REPO, filename="other.pth.tar"))
    with pytest.raises(DownloadError, match="nobody/nothing not found"):
        download_weights("no_repo")
    with pytest.raises(DownloadError, match="other.pth.tar in .* does not exist"):
        download_weights("no_file")


def test_browser_and_unreleased_sources_say_what_to_do(hub_env, capsys):
    from ehps.weights.catalog import get_source

    assert main(["weights", "download", "smplerx_s32"]) == 2
    err = capsys.readouterr().err
    src = get_source("smplerx_s32")
    assert src.location in err and "ehps weights add" in err and "smpler_x_s32.pth.tar" in err
    assert main(["weights", "download", "smplerx_h32_correct"]) == 2
    assert "--name smplerx_h32_correct" in capsys.readouterr().err
    assert main(["weights", "download", "smplestx_b"]) == 2
    assert "no official SMPLest-X-B weights were released" in capsys.readouterr().err
    assert hub_env.hub.requests == []


def test_concurrent_download_and_disk_space_are_refused(hub_env, tiny_ckpt, monkeypatch):
    import fcntl
    import shutil
    from collections import namedtuple

    hub_env.hub.add_repo_file(REPO, FILENAME, tiny_ckpt.data)
    hub_env.write_catalog(catalog_entry("tiny_hub", "hub", REPO))
    lock = hub_env.cache / "tiny_hub" / f"{FILENAME}.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading"):
            download_weights("tiny_hub")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DownloadError, match="GB more are needed"):
        download_weights("tiny_hub")
    assert get_cached("tiny_hub") is None
