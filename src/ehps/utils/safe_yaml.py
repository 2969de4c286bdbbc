"""YAML and JSON from files a user gave us: no objects, bounded size, depth and expansion.

``yaml.safe_load`` builds no Python objects, but it is not bounded: a "billion laughs" file (a
few aliases, each listing the previous one nine times) is 1 KB on disk and expands to 10^9 nodes
the moment anything walks it (a config merge, ``yaml.safe_dump``), and a few thousand nested
brackets exhaust the recursion limit. :func:`load_yaml_file` composes the document with a loader
that charges every node, alias references counted by the size of the subtree they repeat, against
a budget and limits the nesting depth; the offending file is refused in milliseconds.
:func:`load_json_file` gives JSON files the same size and depth limits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ehps.errors import EhpsError, InputError

__all__ = ["MAX_TEXT_BYTES", "MAX_NODES", "MAX_DEPTH", "load_yaml_text", "load_yaml_file",
           "load_json_file"]

#: Largest YAML / JSON file read (configs and box files are kilobytes).
MAX_TEXT_BYTES = 64 << 20
#: Most nodes a YAML document may expand to (aliases counted by what they repeat).
MAX_NODES = 1_000_000
#: Deepest nesting accepted.
MAX_DEPTH = 100


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses documents expanding beyond ``max_nodes`` or ``MAX_DEPTH``."""

    def __init__(self, stream: str, where: str, max_nodes: int) -> None:
        super().__init__(stream)
        self._where, self._max_nodes, self._depth = where, max_nodes, 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # a reference: its size was counted at the anchor
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise InputError(f"{self._where}: an alias refers to a value that contains it "
                                 "(a recursive structure); refusing it")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise InputError(f"{self._where}: nested more than {MAX_DEPTH} levels deep; refusing "
                             "it (not a config file)")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        self._sizes[id(node)] = size
        if size > self._max_nodes:
            raise InputError(
                f"{self._where}: expands to more than {self._max_nodes} values (aliases repeating "
                "aliases: a YAML 'billion laughs' bomb); refusing it. Write the values out or "
                "use fewer nested aliases")
        return node


def load_yaml_text(text: str, where: str = "YAML", max_nodes: int = MAX_NODES) -> Any:
    """Parse YAML text safely (plain types only, bounded expansion and depth).

    Raises:
        InputError: invalid YAML or a resource bomb (the message starts with ``where``).
    """
    loader = _BoundedLoader(text, where, max_nodes)
    try:
        return loader.get_single_data()
    except EhpsError:
        raise
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise InputError(f"{where} is not valid YAML ({detail[:300]})") from exc
    except (RecursionError, MemoryError) as exc:
        raise InputError(f"{where}: too deeply nested or too large to parse") from exc
    finally:
        loader.dispose()


def _read_text(path: Path, error: type[EhpsError], what: str,
               max_bytes: int | None = MAX_TEXT_BYTES) -> str:
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise error(f"{what} {path} {state}")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise error(f"{what} {path} is {size >> 20} MiB, more than the {max_bytes >> 20} MiB "
                        "such files can have; is it the right file?")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def load_yaml_file(path: str | os.PathLike[str], what: str = "config file",
                   max_nodes: int = MAX_NODES) -> Any:
    """Read a YAML file safely (see the module docstring).

    Args:
        path: the file.
        what: what the file is, for messages ("config file").
        max_nodes: expansion budget.

    Raises:
        InputError: missing, unreadable, too large, invalid, or a resource bomb.
    """
    p = Path(path)
    return load_yaml_text(_read_text(p, InputError, what), str(p), max_nodes)


def load_json_file(path: str | os.PathLike[str], error: type[EhpsError] = InputError,
                   what: str = "JSON file", max_bytes: int | None = MAX_TEXT_BYTES) -> Any:
    """Read a JSON file: UTF-8, at most ``max_bytes`` (``None``: no cap, e.g. for dataset
    annotations), nesting bounded by Python's parser (a too-deep file is an error, not a
    crash).

    Raises:
        error: missing, unreadable, too large or invalid file (named in the message).
    """
    p = Path(path)
    text = _read_text(p, error, what, max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} {p} is not valid JSON ({exc})") from exc
    except (RecursionError, MemoryError) as exc:
        raise error(f"{what} {p} is nested too deeply or too large to parse") from exc
