"""YAML configs and JSON files: bombs and nesting refused fast with bounded memory, real configs
(anchors, aliases, merge keys) read exactly as ``yaml.safe_load`` reads them."""

from __future__ import annotations

import json
import resource
import time

import pytest
import yaml
from robust_helpers import assert_one_line_error

from ehps.cli.main import main
from ehps.errors import InputError
from ehps.utils.safe_yaml import load_json_file, load_yaml_file, load_yaml_text

BILLION_LAUGHS = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["preset: synthetic_smplestx", "data:", "  humandata: *a8"]
)


def test_alias_bomb_refused_fast_and_small(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert path.stat().st_size < 1024
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="billion laughs"):
        load_yaml_file(path)
    assert time.perf_counter() - t0 < 5.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 100_000  # KiB


@pytest.mark.parametrize(("text", "needle"), [
    ("a: &a [*a]", "recursive"),
    ("[" * 5000 + "]" * 5000, "nested more than"),
    ("a: [1, 2", "not valid YAML"),
    ("!!python/object/apply:os.system ['echo owned']", "not valid YAML"),
])
def test_malformed_yaml(text, needle):
    with pytest.raises(InputError, match=needle):
        load_yaml_text(text, "cfg.yaml")


def test_merge_key_bomb():
    lines = ["b0: &b0 {x0: 1, y0: 2}"]
    lines += [f"b{i}: &b{i} {{<<: [*b{i - 1}, *b{i - 1}], x{i}: 1}}" for i in range(1, 40)]
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="merge.yaml"):
        load_yaml_text("\n".join(lines), "merge.yaml")
    assert time.perf_counter() - t0 < 10.0


def test_real_configs_read_as_safe_load(tmp_path):
    from pathlib import Path

    text = ("base: &base {lr: 1.0e-4, steps: 10}\nrun:\n  <<: *base\n  steps: 20\n"
            "list: [*base, *base]\n")
    assert load_yaml_text(text) == yaml.safe_load(text)
    configs = sorted(Path(__file__).resolve().parents[2].glob("configs/*.yaml"))
    assert configs
    for p in configs:
        assert load_yaml_file(p) == yaml.safe_load(p.read_text())


def test_train_cli_bomb_is_one_line(tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    t0 = time.perf_counter()
    rc = main(["train", "--config", str(path), "--out", str(tmp_path / "run")])
    assert time.perf_counter() - t0 < 20.0
    assert_one_line_error(rc, capsys.readouterr().err, "train", "bomb.yaml", "billion laughs")
    assert not (tmp_path / "run").exists()


def test_json_nesting_and_size(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InputError, match="deep.json"):
        load_json_file(deep)
    from ehps.inference.sources import load_boxes_json

    with pytest.raises(InputError, match="deep.json"):
        load_boxes_json(deep)
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps({"a.png": [[0, 0, 10, 1e400]]}).replace("Infinity", "1e400"))
    with pytest.raises(InputError, match="b.json"):
        load_boxes_json(boxes)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        load_json_file(binary)
