"""Where the licensed SMPL-X model files are looked for.

Order: an explicit path, then ``$EHPS_BODY_MODELS`` (either a directory that contains ``smplx/``
or the ``smplx`` directory itself), then ``<platformdirs user data dir>/body_models/smplx``
(``~/.local/share/ehps/body_models/smplx`` on Linux). Nothing is relative to the working
directory. The files cannot ship with ehps: they come from https://smpl-x.is.tue.mpg.de under the
SMPL-X licence.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ehps.errors import BodyModelError

__all__ = [
    "ENV_VAR",
    "SMPLX_MODEL_FILES",
    "SMPLX_EXTRA_FILES",
    "default_body_models_dir",
    "smplx_search_locations",
    "describe_smplx_search",
    "find_smplx_dir",
    "smplx_model_file",
]

ENV_VAR = "EHPS_BODY_MODELS"
SMPLX_WEBSITE = "https://smpl-x.is.tue.mpg.de"

#: Model files by gender; the ``.npz`` is preferred, the ``.pkl`` (chumpy-free load) also works.
SMPLX_MODEL_FILES: dict[str, tuple[str, ...]] = {
    "neutral": ("SMPLX_NEUTRAL.npz", "SMPLX_NEUTRAL.pkl"),
    "male": ("SMPLX_MALE.npz", "SMPLX_MALE.pkl"),
    "female": ("SMPLX_FEMALE.npz", "SMPLX_FEMALE.pkl"),
}
#: Extra files the official models read next to the model files (official-spec a.7).
SMPLX_EXTRA_FILES: tuple[str, ...] = (
    "MANO_SMPLX_vertex_ids.pkl",
    "SMPL-X__FLAME_vertex_ids.npy",
    "SMPLX_to_J14.pkl",
)


def default_body_models_dir() -> Path:
    """``<user data dir>/body_models`` (``~/.local/share/ehps/body_models`` on Linux)."""
    return Path(platformdirs.user_data_dir("ehps")) / "body_models"


def _has_model(d: Path) -> bool:
    return d.is_dir() and any((d / n).is_file() for names in SMPLX_MODEL_FILES.values()
                              for n in names)


def smplx_search_locations(
    explicit: str | os.PathLike[str] | None = None,
) -> list[tuple[str, Path]]:
    """The candidate SMPL-X directories in search order, as ``(source, path)``.

    ``source`` is ``"explicit"``, ``"$EHPS_BODY_MODELS"`` or ``"default"``. For the environment
    variable both ``$EHPS_BODY_MODELS/smplx`` and ``$EHPS_BODY_MODELS`` itself are listed (the
    former first). An explicit path may also name a model file; its directory is then used.
    """
    out: list[tuple[str, Path]] = []
    if explicit is not None:
        p = Path(explicit).expanduser()
        if p.is_file():
            p = p.parent
        out.append(("explicit", p))
        if (p / "smplx").is_dir():
            out.insert(0, ("explicit", p / "smplx"))
    env = os.environ.get(ENV_VAR)
    if env:
        e = Path(env).expanduser()
        out.append((f"${ENV_VAR}", e / "smplx"))
        out.append((f"${ENV_VAR}", e))
    out.append(("default", default_body_models_dir() / "smplx"))
    return out


def describe_smplx_search(
    explicit: str | os.PathLike[str] | None = None,
) -> list[tuple[str, Path, bool]]:
    """``(source, path, found)`` for each place searched; ``found`` = holds an SMPL-X model file.

    Used by ``ehps info``.
    """
    return [(src, p, _has_model(p)) for src, p in smplx_search_locations(explicit)]


def _missing_message(explicit: str | os.PathLike[str] | None, what: str) -> str:
    places = [
        f"  1. an explicit path (argument / --body-models): "
        f"{Path(explicit).expanduser() if explicit is not None else '(none given)'}",
        f"  2. ${ENV_VAR}: {os.environ.get(ENV_VAR) or '(not set)'} "
        "(a directory containing smplx/, or the smplx directory itself)",
        f"  3. the default: {default_body_models_dir() / 'smplx'}",
    ]
    files = [n for names in SMPLX_MODEL_FILES.values() for n in names] + list(SMPLX_EXTRA_FILES)
    return (
        f"{what}. Looked in:\n" + "\n".join(places) + "\n"
        "Expected in that directory: " + ", ".join(files) + " (at least the .npz of the gender "
        "you use plus the three extras). The SMPL-X files cannot ship with ehps: download them "
        f"from {SMPLX_WEBSITE} (registration, SMPL-X licence) and put them in one of these "
        f"places, e.g. `export {ENV_VAR}=/path/to/body_models`."
    )


def find_smplx_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The first directory in :func:`smplx_search_locations` that holds an SMPL-X model file.

    An explicit path, when given, is the only place used (a wrong path is an error, not a
    fallback to ``$EHPS_BODY_MODELS``).

    Raises:
        BodyModelError: no candidate holds a model file; the message lists the places searched,
            the expected file names and where the files come from.
    """
    places = smplx_search_locations(explicit)
    if explicit is not None:  # an explicit path is binding: no silent fallback to other places
        places = [(src, p) for src, p in places if src == "explicit"]
    for _src, path in places:
        if _has_model(path):
            return path.resolve()
    what = (f"No SMPL-X model files in the given path {explicit}" if explicit is not None
            else "No SMPL-X model files found")
    raise BodyModelError(_missing_message(explicit, what))


def smplx_model_file(
    explicit: str | os.PathLike[str] | None = None, gender: str = "neutral"
) -> Path:
    """The model file for ``gender``: ``explicit`` itself if it is a file, else the ``.npz`` (or
    ``.pkl``) in :func:`find_smplx_dir`.

    Raises:
        BodyModelError: unknown gender, or no file for that gender (lists what was expected).
    """
    gender = gender.lower()
    if gender not in SMPLX_MODEL_FILES:
        raise BodyModelError(
            f"unknown SMPL-X gender {gender!r}; use one of {sorted(SMPLX_MODEL_FILES)}"
        )
    if explicit is not None and Path(explicit).expanduser().is_file():
        return Path(explicit).expanduser().resolve()
    d = find_smplx_dir(explicit)
    for name in SMPLX_MODEL_FILES[gender]:
        if (d / name).is_file():
            return d / name
    present = sorted(p.name for p in d.iterdir() if p.suffix in (".npz", ".pkl"))
    raise BodyModelError(
        f"no SMPL-X model file for gender {gender!r} in {d} (expected "
        f"{' or '.join(SMPLX_MODEL_FILES[gender])}; found: {', '.join(present) or 'nothing'}). "
        f"Download it from {SMPLX_WEBSITE} (SMPL-X licence), or use a gender that is present."
    )
