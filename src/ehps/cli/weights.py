"""``ehps weights list | download | add | path | verify | remove``: the official SMPLer-X /
SMPLest-X weights, fetched only on request and used offline afterwards.

The official weights: where each is published, a local cache with sha256 checks, and downloads
that happen only when you ask. Cache: $EHPS_WEIGHTS_DIR, else <cache dir>/weights ($EHPS_CACHE_DIR
or ~/.cache/ehps). Hub downloads honour HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE; extra sources:
$EHPS_WEIGHTS_CATALOG (JSON).

Examples::

    ehps weights list
    ehps weights download smplestx_h --convert      # Hugging Face Hub, resumable
    ehps weights add ~/Downloads/smpler_x_s32.pth.tar
    ehps infer --weights smplestx_h video.mp4        # offline, sha256-checked
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ehps.cli.options import add_dtype, doc_parser, print_help_by_default

__all__ = ["register", "run_list", "run_download", "run_add", "source_rows"]

def register(sub: argparse._SubParsersAction) -> None:
    p = doc_parser(sub, "weights",
                   "list, download and register the official SMPLer-X / SMPLest-X weights",
                   __doc__.split("\n\n", 1)[1])
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")

    ls = wsub.add_parser("list", help="every variant: source, size, MPE, licence, cached?")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument("--verbose", action="store_true", help="full URLs and provenance notes")
    ls.set_defaults(func=run_list)

    dl = wsub.add_parser("download", help="fetch weights into the cache (resumable)",
                         description="Fetch the official weights called NAME into the cache, "
                         "resuming an interrupted download, and check their sha256 and "
                         "architecture. Sources that need a browser print their page and the "
                         "`ehps weights add` command instead.")
    dl.add_argument("name", help="weight name (`ehps weights list`), e.g. smplestx_h")
    dl.add_argument("--convert", action="store_true",
                    help="also write the ehps .safetensors (faster to load) and check it")
    dl.add_argument("--url", default=None, help="a direct link to use instead (e.g. a mirror)")
    add_dtype(dl, help="storage dtype of the converted file")
    dl.set_defaults(func=run_download)

    add = wsub.add_parser("add", help="register a weight file you downloaded yourself",
                          description="Hash a weight file, detect its variant from its shapes, "
                          "check it strictly and place it in the cache (a hard link when "
                          "possible, else a copy).")
    add.add_argument("file", help="official .pth.tar or ehps .safetensors")
    add.add_argument("--name", default=None,
                     help="cache name (default: the catalog entry of that file name, else the "
                          "variant), e.g. smplerx_h32_correct")
    add.add_argument("--variant", default=None, help="zoo variant if the shapes do not tell")
    add.add_argument("--convert", action="store_true", help="also write the ehps .safetensors")
    add.add_argument("--force", action="store_true", help="replace another file cached as NAME")
    add_dtype(add, help="storage dtype of the converted file")
    add.set_defaults(func=run_add)

    path = wsub.add_parser("path", help="print the verified file of a cached name")
    path.add_argument("name")
    path.set_defaults(func=run_path)

    ver = wsub.add_parser("verify", help="re-hash cached files against their manifests")
    ver.add_argument("names", nargs="*", help="default: every cached entry")
    ver.set_defaults(func=run_verify)

    rm = wsub.add_parser("remove", help="delete a cached entry")
    rm.add_argument("name")
    rm.add_argument("--original-only", action="store_true",
                    help="delete only the official file, keep the converted .safetensors")
    rm.set_defaults(func=run_remove)
    print_help_by_default(p)


def _gb(n: int | None) -> str:
    return "-" if not n else f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def source_rows() -> list[dict[str, Any]]:
    """One dict per catalog entry plus cached entries outside the catalog (for list/info)."""
    from ehps.weights.catalog import list_sources
    from ehps.weights.store import list_cached, weights_dir

    cached = {e.name: e for e in list_cached()}
    root = weights_dir()
    rows = []
    for src in list_sources():
        entry = cached.pop(src.name, None)
        parts = sorted((root / src.name).glob("*.part")) if entry is None else []
        rows.append({
            "name": src.name, "variant": src.variant, "title": src.title, "kind": src.kind,
            "location": src.location, "filename": src.filename, "url": src.url,
            "size": src.size_text or None, "params_m": src.params_m, "mpe_mm": src.mpe_mm,
            "licence": src.licence, "note": src.note, "mirrors": list(src.mirrors),
            "cached": _cached_state(entry),
            "partial_bytes": sum(p.stat().st_size for p in parts) if parts else None,
        })  # fmt: skip
    for entry in cached.values():
        rows.append({"name": entry.name, "variant": entry.variant, "title": "(local)",
                     "kind": "local", "location": entry.origin, "filename": entry.preferred.file,
                     "url": "", "size": None, "params_m": None, "mpe_mm": None, "licence": "",
                     "note": "", "mirrors": [], "cached": _cached_state(entry),
                     "partial_bytes": None})
    return rows


def _cached_state(entry: Any) -> dict[str, Any] | None:
    if entry is None:
        return None
    files = [f for f in (entry.official, entry.converted) if f is not None]
    present = all((entry.directory / f.file).is_file() for f in files)
    return {"path": str(entry.path), "converted": entry.converted is not None,
            "bytes": entry.size, "files_present": present, "origin": entry.origin}


def _source_label(row: dict[str, Any]) -> str:
    from urllib.parse import urlparse

    kind = row["kind"]
    if kind == "hub":
        return f"hub {row['location']}"
    if kind in ("url", "browser"):
        return f"{kind} {urlparse(row['location']).netloc}"
    return "not released" if kind == "unreleased" else "added locally"


def run_list(args: argparse.Namespace) -> int:
    from ehps.weights.catalog import LICENCE
    from ehps.weights.store import weights_dir

    rows = source_rows()
    if args.json:
        print(json.dumps({"cache": str(weights_dir()), "weights": rows}, indent=2))
        return 0
    print(f"{'NAME':<20} {'MODEL':<14} {'SOURCE':<33} {'SIZE':>8} {'PARAMS':>7} {'MPE':>6}  "
          "CACHED")
    for r in rows:
        c = r["cached"]
        partial = f"no (partial download: {_gb(r['partial_bytes'])}; `download` resumes it)"
        cached = (partial if r["partial_bytes"] else "no") if c is None else (
            ("yes, converted" if c["converted"] else "yes") + f" ({_gb(c['bytes'])})"
            + ("" if c["files_present"] else " FILES MISSING"))
        params = f"{r['params_m']:g}M" if r["params_m"] else "-"
        mpe = f"{r['mpe_mm']:.1f}" if r["mpe_mm"] is not None else "-"
        print(f"{r['name']:<20} {r['title']:<14} {_source_label(r):<33} {r['size'] or '-':>8} "
              f"{params:>7} {mpe:>6}  {cached}")
        if args.verbose:
            if r["url"]:
                print(f"{'':<21}{r['url']}")
            for m in r["mirrors"]:
                print(f"{'':<21}also: {m}")
            if r["note"]:
                print(f"{'':<21}{r['note']}")
    print(f"\nLicence of every release: {LICENCE}. MPE: mean primary error (mm) on AGORA, "
          "EgoBody, UBody, 3DPW and EHF, from the official README ('-': not published).")
    print(f"Cache: {weights_dir()}  (fetch: `ehps weights download NAME`; register a file: "
          "`ehps weights add FILE`)")
    return 0


def _dtype(name: str) -> Any:
    import torch

    return None if name == "float32" else getattr(torch, name)


def _describe(entry: Any) -> str:
    parts = [f"{entry.name} ({entry.variant}) in {entry.directory}"]
    if entry.official is not None:
        parts.append(f"  {entry.official.file}  {_gb(entry.official.size)}  sha256 "
                     f"{entry.official.sha256}")
    if entry.converted is not None:
        parts.append(f"  {entry.converted.file}  {_gb(entry.converted.size)}  sha256 "
                     f"{entry.converted.sha256}")
    if entry.official is not None and entry.converted is not None:
        parts.append(f"(inference loads the .safetensors; `ehps weights remove {entry.name} "
                     f"--original-only` frees {_gb(entry.official.size)})")
    parts.append(f"Use it offline: ehps infer --weights {entry.name} VIDEO_OR_IMAGES")
    return "\n".join(parts)


def run_download(args: argparse.Namespace) -> int:
    from ehps.weights.manage import download_weights

    entry = download_weights(args.name, convert=args.convert, url=args.url,
                             dtype=_dtype(args.dtype))
    print(_describe(entry))
    return 0


def run_add(args: argparse.Namespace) -> int:
    from ehps.weights.manage import add_weights

    entry = add_weights(args.file, name=args.name, variant=args.variant, convert=args.convert,
                        force=args.force, dtype=_dtype(args.dtype))
    print(_describe(entry))
    return 0


def run_path(args: argparse.Namespace) -> int:
    from ehps.weights.resolve import resolve_weights

    print(resolve_weights(args.name))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ehps.errors import CheckpointError, InputError
    from ehps.weights.catalog import normalize_name
    from ehps.weights.store import get_cached, list_cached, verify_cached

    entries = [get_cached(normalize_name(n)) for n in args.names] if args.names \
        else list_cached()
    if any(e is None for e in entries):
        missing = [n for n, e in zip(args.names, entries) if e is None]
        raise InputError(f"not cached: {', '.join(missing)} (`ehps weights list`)")
    bad = 0
    for entry in entries:
        for which in ("official", "converted"):
            item = getattr(entry, which)
            if item is None:
                continue
            try:
                verify_cached(entry, which)
                print(f"ok   {entry.name}/{item.file}")
            except CheckpointError as exc:
                bad += 1
                print(f"BAD  {entry.name}/{item.file}: {exc}")
    return 1 if bad else 0


def run_remove(args: argparse.Namespace) -> int:
    from ehps.weights.manage import remove_weights

    for path in remove_weights(args.name, original_only=args.original_only):
        print(f"deleted {path}")
    return 0
