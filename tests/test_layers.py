"""The rooms of the code and what each may import (docs/architecture.md): every import of a
module of ``ehps`` goes to a folder on the same layer or below, and no two folders import each
other (read from the source with ``ast``, imports inside functions included)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ehps"

#: Layer of every top-level folder / module of ehps (docs/architecture.md).
LAYERS: dict[str, int] = {
    "errors": 0, "geometry": 0,
    "utils": 1, "structures": 1,
    "config": 2, "io": 2, "bodymodels": 2, "modeling": 2, "render": 2, "export": 2,
    "detection": 3, "data": 3, "world": 3,
    "evaluation": 4, "losses": 4,
    "fitting": 5, "weights": 5,
    "inference": 6, "training": 6,
    "cli": 7, "serve": 7, "testing": 7, "__main__": 8, "__init__": 8,
}


def _imports() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        room = path.relative_to(SRC).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                if parts[0] == "ehps" and len(parts) > 1 and parts[1] != room:
                    edges[room].add(parts[1])
    return edges


def test_every_room_has_a_layer():
    rooms = {p.name.removesuffix(".py") for p in SRC.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert rooms <= set(LAYERS), rooms - set(LAYERS)


def test_imports_go_down_or_across_never_up():
    upward = [f"{a} (layer {LAYERS[a]}) imports {b} (layer {LAYERS[b]})"
              for a, targets in _imports().items() for b in targets if LAYERS[b] > LAYERS[a]]
    assert not upward, upward


def test_no_two_rooms_import_each_other():
    edges = _imports()
    pairs = sorted({tuple(sorted((a, b))) for a, ts in edges.items() for b in ts
                    if a in edges.get(b, set())})
    assert not pairs, pairs
