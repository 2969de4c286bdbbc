"""Where the official SMPLer-X / SMPLest-X weights are published: one entry per zoo variant.

Every field was read from the authors' own material (checked 2026-11; the trail is in
``docs/weights.md``). A field the official material does not give is left empty (``None`` or
``""``) rather than guessed:

- **SMPLer-X S32 / B32 / L32 / H32** ("Pretrained Models" table of the official README,
  github.com/caizhongang/SMPLer-X, now MotrixLab/SMPLer-X): SharePoint share links, #Params and
  MPE; no file sizes, no checksums. H32 is also in the first author's Hugging Face model
  repository ``caizhongang/SMPLer-X`` (file list: ``smpler_x_h32.pth.tar``, 7.94 GB, uploaded
  2024-03-11), which the official Hugging Face Space downloads with ``hf_hub_download``; ehps
  fetches H32 from there.
- **SMPLer-X H32\\*** (README, 2024-03-29: "fixes the camera estimation issue on 3DPW-like
  data"): a SharePoint link and MPE 59.7; the README names no file.
- **SMPLest-X-H** (official README, github.com/SMPLCap/SMPLest-X): the Hugging Face repository
  ``waanqii/SMPLest-X``, file ``smplest_x_h.pth.tar``, "8.2G"; no MPE and no parameter count in
  the README. SMPLest-X S / B / L were not released.

MPE (mean primary error, mm) comes from ``ehps/assets/published_numbers.yaml`` (the same checked
table ``ehps eval`` prints), so the two never disagree. Licence of code and weights: S-Lab
License 1.0 (non-commercial; ``LICENSE`` of both repositories).

Extra entries (a lab mirror, a fine-tuned model) can be declared in a JSON file named by
``$EHPS_WEIGHTS_CATALOG`` (see :func:`load_extra_sources`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ehps.errors import InputError

__all__ = [
    "LICENCE",
    "CATALOG_ENV",
    "SourceKind",
    "WeightSource",
    "OFFICIAL_SOURCES",
    "list_sources",
    "get_source",
    "find_source",
    "normalize_name",
    "load_extra_sources",
    "published_mpe",
]

LICENCE = "S-Lab License 1.0 (non-commercial)"
CATALOG_ENV = "EHPS_WEIGHTS_CATALOG"

#: ``hub``: a Hugging Face Hub repository file; ``url``: a direct link a program can fetch;
#: ``browser``: a share page that needs a browser; ``unreleased``: no official weights exist.
SourceKind = Literal["hub", "url", "browser", "unreleased"]

_SMPLERX_README = "https://github.com/caizhongang/SMPLer-X#pretrained-models"
_SMPLESTX_README = "https://github.com/SMPLCap/SMPLest-X#preparation"
_SHAREPOINT = "https://pjlab-my.sharepoint.cn/:u:/g/personal/openmmlab_pjlab_org_cn/"


@dataclass(frozen=True)
class WeightSource:
    """One published weight file.

    Attributes:
        name: the weight name users type (``ehps weights download NAME``); equal to the zoo
            variant except for ``smplerx_h32_correct`` (H32*).
        variant: the zoo architecture the file holds (``ehps.modeling.list_models()``).
        title: the name in the official README (``"SMPLer-X-H32"``).
        kind: see :data:`SourceKind`.
        location: ``hub``: the repository id; ``url`` / ``browser``: the URL; else ``""``.
        filename: the released file name (``""`` where the official material names none).
        revision: Hub revision (branch, tag or commit).
        size_text: the size as the official page states it (``""``: not stated).
        params_m: parameters in millions as the README states them (``None``: not stated).
        sha256: published checksum of this file (``None``: none published; the Hub's own
            sha256 is checked at download time).
        mirrors: other official locations (e.g. the README's share link of a Hub-hosted file).
        note: provenance remarks printed by ``ehps weights list --verbose``.
        config: :class:`~ehps.modeling.ModelConfig` overrides (extra catalogs only: custom
            widths); empty for the official releases.
    """

    name: str
    variant: str
    title: str
    kind: SourceKind
    location: str = ""
    filename: str = ""
    revision: str = "main"
    size_text: str = ""
    params_m: float | None = None
    sha256: str | None = None
    mirrors: tuple[str, ...] = ()
    note: str = ""
    licence: str = LICENCE
    readme: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A human-readable address of the release (the Hub page for Hub files)."""
        if self.kind == "hub":
            return f"https://huggingface.co/{self.location}/blob/{self.revision}/{self.filename}"
        return self.location

    @property
    def mpe_mm(self) -> float | None:
        """Published MPE in mm (README), or ``None`` when none was published."""
        return published_mpe(self.name)


def _sharepoint(token: str) -> str:
    return _SHAREPOINT + token


def _readme_link(size: str, params_m: int, token: str) -> WeightSource:
    """SMPLer-X-<SIZE> behind the README's SharePoint 'Download' link (opened in a browser)."""
    return WeightSource(
        f"smplerx_{size}", f"smplerx_{size}", f"SMPLer-X-{size.upper()}", "browser",
        _sharepoint(token), f"smpler_x_{size}.pth.tar", params_m=params_m,
        readme=_SMPLERX_README,
        note="README 'Download' link (SharePoint); no size or checksum published.",
    )


OFFICIAL_SOURCES: tuple[WeightSource, ...] = (
    _readme_link("s32", 32, "EbkyKOS5PclHtDSxdZDmsu0BNviaTKUbF5QUPJ08hfKuKg?e=LQVvzs"),
    _readme_link("b32", 103, "EVcRBwNOQl9OtWhnCU54l58BzJaYEPxcFIw7u_GnnlPZiA?e=nPqMjz"),
    _readme_link("l32", 327, "EWypJXfmJ2dEhoC0pHFFd5MBoSs7LCZmWQjHjbcQJF72fQ?e=Gteus3"),
    WeightSource(
        "smplerx_h32", "smplerx_h32", "SMPLer-X-H32", "hub", "caizhongang/SMPLer-X",
        "smpler_x_h32.pth.tar", size_text="7.94 GB", params_m=662, readme=_SMPLERX_README,
        mirrors=(_sharepoint("Eco7AAc_ZmtBrhAat2e5Ti8BonrR3NVNx-tNSck45ixT4Q?e=nudXrR"),),
        note="Hub repository of the first author (uploaded 2024-03-11, before H32*); the "
        "official HF Space downloads this file. Size from the Hub file list; the sha256 is the "
        "Hub's and is checked at download time. The README links the SharePoint mirror.",
    ),
    WeightSource(
        "smplerx_h32_correct", "smplerx_h32", "SMPLer-X-H32*", "browser",
        _sharepoint("EYdhbS9ZnctPgIs5PZNZBaIBVMJUr4LKBWCIUuBBVmbwAg?e=kLDj5P"),
        "", params_m=662, readme=_SMPLERX_README,
        note="Updated H32 (README, 2024-03-29): fixes camera estimation on 3DPW-like data. The "
        "README names no file; add the downloaded file with --name smplerx_h32_correct.",
    ),
    WeightSource(
        "smplestx_s", "smplestx_s", "SMPLest-X-S", "unreleased", readme=_SMPLESTX_README,
        note="Not released: the SMPLest-X authors published only SMPLest-X-Huge.",
    ),
    WeightSource(
        "smplestx_b", "smplestx_b", "SMPLest-X-B", "unreleased", readme=_SMPLESTX_README,
        note="Not released: the SMPLest-X authors published only SMPLest-X-Huge.",
    ),
    WeightSource(
        "smplestx_l", "smplestx_l", "SMPLest-X-L", "unreleased", readme=_SMPLESTX_README,
        note="Not released: the SMPLest-X authors published only SMPLest-X-Huge.",
    ),
    WeightSource(
        "smplestx_h", "smplestx_h", "SMPLest-X-H", "hub", "waanqii/SMPLest-X",
        "smplest_x_h.pth.tar", size_text="8.2 GB", readme=_SMPLESTX_README,
        note="README: 'Download the pretrained SMPLest-X-Huge model weight from [the Hub "
        "repository] (8.2G)'. 8.2 GB is about three times the 2.75 GB of fp32 network weights, "
        "so the file very likely holds the Adam state too. No MPE or parameter count in the "
        "README.",
    ),
)


@functools.lru_cache(maxsize=1)
def _published_mpe_table() -> dict[str, float]:
    """variant -> MPE of ``ehps/assets/published_numbers.yaml`` (the table ``ehps eval`` prints
    through :mod:`ehps.evaluation.published`; read directly here so that ``ehps weights list``
    does not import the evaluation package and torch)."""
    from importlib import resources

    import yaml

    text = resources.files("ehps").joinpath("assets/published_numbers.yaml").read_text("utf-8")
    out = {}
    for entry in (yaml.safe_load(text) or {}).get("entries", []):
        if isinstance(entry, dict) and entry.get("benchmark") == "mpe" and \
                entry.get("metric") == "mpe" and isinstance(entry.get("variant"), str):
            out[entry["variant"]] = float(entry["value"])
    return out


def published_mpe(name: str) -> float | None:
    """The README MPE (mm) of weight ``name`` from the packaged published-numbers table."""
    return _published_mpe_table().get(name)


def _validate_extra(entry: Mapping[str, Any], where: str) -> WeightSource:
    from ehps.modeling.zoo import resolve_name

    allowed = set(WeightSource.__dataclass_fields__)
    unknown = sorted(set(entry) - allowed)
    if unknown or not isinstance(entry.get("name"), str) or not isinstance(
        entry.get("variant"), str
    ):
        raise InputError(
            f"{where}: each entry needs string 'name' and 'variant' and only the fields "
            f"{sorted(allowed)} (unknown: {unknown})"
        )
    kind = entry.get("kind", "url")
    if kind not in ("hub", "url", "browser", "unreleased"):
        raise InputError(f"{where}: entry {entry['name']!r}: unknown kind {kind!r}")
    sha = entry.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64
                            or any(c not in "0123456789abcdef" for c in sha.lower())):
        raise InputError(f"{where}: entry {entry['name']!r}: sha256 must be 64 hex digits")
    config = entry.get("config") or {}
    if not isinstance(config, Mapping):
        raise InputError(f"{where}: entry {entry['name']!r}: 'config' must be an object")
    values = dict(entry)
    values.update(kind=kind, variant=resolve_name(entry["variant"]),
                  mirrors=tuple(entry.get("mirrors", ())), config=dict(config),
                  sha256=sha.lower() if sha else None)
    return WeightSource(**values)


def load_extra_sources(path: str | os.PathLike[str] | None = None) -> list[WeightSource]:
    """Entries of an extra catalog: a JSON list of :class:`WeightSource` fields.

    Args:
        path: the JSON file; ``None`` reads ``$EHPS_WEIGHTS_CATALOG`` (no variable: no extras).

    Example file (a lab mirror of the S32 release)::

        [{"name": "smplerx_s32", "variant": "smplerx_s32", "title": "SMPLer-X-S32 (lab)",
          "kind": "url", "location": "https://files.lab/smpler_x_s32.pth.tar",
          "filename": "smpler_x_s32.pth.tar", "sha256": "<64 hex digits>"}]

    An entry with the name of an official one replaces it.
    """
    if path is None:
        path = os.environ.get(CATALOG_ENV) or None
        if path is None:
            return []
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the weights catalog {p} (${CATALOG_ENV}): {exc}") from exc
    if not isinstance(data, list):
        raise InputError(f"{p}: a weights catalog is a JSON list of entries")
    return [_validate_extra(e if isinstance(e, Mapping) else {}, str(p)) for e in data]


def list_sources() -> list[WeightSource]:
    """Official entries (zoo order) followed by extra-catalog entries; extras with an official
    name replace the official entry."""
    extras = {s.name: s for s in load_extra_sources()}
    out = [extras.pop(s.name, s) for s in OFFICIAL_SOURCES]
    return out + list(extras.values())


def normalize_name(name: str) -> str:
    """Lower case, ``-`` -> ``_``, and the official spellings folded (``SMPLer-X-H32`` and
    ``smpler_x_h32`` -> ``smplerx_h32``, ``SMPLest-X-H`` -> ``smplestx_h``)."""
    key = name.strip().lower().replace("-", "_")
    return key.replace("smplest_x", "smplestx").replace("smpler_x", "smplerx")


def find_source(name: str) -> WeightSource | None:
    """The entry called ``name`` (zoo aliases such as ``smplestx_h40`` or ``smplerx_h20``
    accepted), or ``None``."""
    key = normalize_name(name)
    sources = {s.name: s for s in list_sources()}
    if key in sources:
        return sources[key]
    from ehps.modeling.zoo import _ALIASES

    alias = _ALIASES.get(key)
    return sources.get(alias) if alias else None


def get_source(name: str) -> WeightSource:
    """Like :func:`find_source`, but an unknown name is an :class:`InputError` listing the
    known names."""
    src = find_source(name)
    if src is None:
        names = ", ".join(s.name for s in list_sources())
        raise InputError(f"unknown weight name {name!r}; known: {names} (`ehps weights list`)")
    return src
