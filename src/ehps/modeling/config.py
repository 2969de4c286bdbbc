"""The typed configuration of one network: everything needed to rebuild it (and nothing else).

A :class:`ModelConfig` is what the zoo registers for each variant name, what ``build_model``
accepts overrides for (tiny widths for tests, drop-path rates for training), and what our
safetensors files embed so that ``load_model(path)`` needs no variant name.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from ehps.errors import InputError

__all__ = ["ModelConfig", "Family"]

Family = Literal["smplerx", "smplestx"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters of a SMPLer-X or SMPLest-X network.

    Attributes:
        family: ``"smplerx"`` (ViT + heatmap/box/hand-RoI heads) or ``"smplestx"`` (ViT +
            transformer decoder + linear heads).
        embed_dim: ViT width C (384 / 768 / 1024 / 1280 for S / B / L / H).
        depth: number of ViT blocks.
        num_heads: ViT attention heads (head dim = C / heads).
        mlp_ratio: ViT MLP hidden width / C.
        num_task_tokens: learned tokens prepended to the 192 patch tokens (31 SMPLer-X, 80
            SMPLest-X; both architectures read them at fixed indices, so only the official
            numbers make sense unless you know what you do).
        drop_path_rate: stochastic-depth rate of the last block (linear ramp from 0); only active
            in training mode. The zoo sets the official per-size training values.
        name: the variant name this config was registered as ("" for custom configs).
        decoder_depth: SMPLest-X decoder layers (6).
        decoder_heads: SMPLest-X decoder attention heads (8).
        decoder_head_dim: SMPLest-X decoder head width (64).
        decoder_dim_out: SMPLest-X per-token width after ``token_conv`` (512).
        decoder_mlp_dim: SMPLest-X decoder FFN hidden width (``None`` = C, the official value).
        head_dim: SMPLer-X width of the joint features in the body / hand regressors (512).
        box_dim: SMPLer-X width of the box-net deconvolutions and size MLPs (256).
        stem: how the encoder turns the image into patch tokens: ``"patch"`` (the official 16x16
            patchify convolution) or ``"conv"`` (four 3x3 stride-2 convolutions, not official:
            it makes narrow encoders trained from scratch learn, see
            :class:`ehps.modeling.backbones.vit.ConvStem`).
    """

    family: Family
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    num_task_tokens: int = 31
    drop_path_rate: float = 0.0
    name: str = ""
    decoder_depth: int = 6
    decoder_heads: int = 8
    decoder_head_dim: int = 64
    decoder_dim_out: int = 512
    decoder_mlp_dim: int | None = None
    head_dim: int = 512
    box_dim: int = 256
    stem: Literal["patch", "conv"] = "patch"

    def __post_init__(self) -> None:
        self._check_types_and_ranges()
        if self.stem not in ("patch", "conv"):
            raise InputError(f"stem must be 'patch' or 'conv', not {self.stem!r}")
        if self.family not in ("smplerx", "smplestx"):
            raise InputError(f"family must be 'smplerx' or 'smplestx', not {self.family!r}")
        if self.embed_dim % self.num_heads:
            raise InputError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}; "
                "pick a head count that divides the width"
            )
        if self.family == "smplerx":
            if self.embed_dim % 4:
                raise InputError(
                    f"SMPLer-X needs embed_dim divisible by 4 (hand RoI net uses C/2, C/4), "
                    f"got {self.embed_dim}"
                )
            if self.num_task_tokens < 31:
                raise InputError("SMPLer-X reads 31 task tokens; num_task_tokens must be >= 31")
        elif self.num_task_tokens < 80:
            raise InputError("SMPLest-X reads 80 task tokens; num_task_tokens must be >= 80")

    def _check_types_and_ranges(self) -> None:
        """Every field has its type and a sane range: a config can come from a file (the
        metadata of a weight file), and a forged one (``depth`` 10,000,000) must be refused
        before anything is built."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("family", "stem", "name"):
                if not isinstance(value, str) or len(value) > 200:
                    raise InputError(f"model option {f.name!r} must be a short string, got "
                                     f"{str(value)[:40]!r}")
                continue
            if value is None and f.name == "decoder_mlp_dim":
                continue
            lo, hi = _RANGES[f.name]
            kinds = (int, float) if isinstance(lo, float) else (int,)
            if isinstance(value, bool) or not isinstance(value, kinds) or not lo <= value <= hi:
                kind = "a number" if isinstance(lo, float) else "an integer"
                raise InputError(f"model option {f.name!r} must be {kind} in [{lo}, {hi}], got "
                                 f"{str(value)[:40]!r}")

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed; unknown names raise :class:`InputError`."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(
                f"unknown model option(s) {unknown}; valid options are {sorted(known)}"
            )
        return dataclasses.replace(self, **overrides)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """Inverse of :meth:`to_json`; unknown keys are an error (no silent defaults), and
        every value is checked (type and range) before the config exists.

        Raises:
            InputError: not a JSON object, unknown keys, or a value of the wrong type / range.
        """
        if not isinstance(text, str) or len(text) > 1 << 20:
            raise InputError("a model config must be a JSON text of at most 1 MiB")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"a model config is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise InputError("a model config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"model config has unknown keys {unknown}; it was written by a newer ehps? "
                "Upgrade ehps to read it."
            )
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.name not in data)
        if missing:
            raise InputError(f"model config lacks {missing}")
        return cls(**data)


#: Accepted range of every numeric :class:`ModelConfig` field (float bounds: any number). The
#: official networks use C <= 1280, 32 blocks, 16 heads, 80 tokens; the bounds leave room for
#: larger research variants while refusing sizes no machine can build.
_RANGES: dict[str, tuple[int | float, int | float]] = {
    "embed_dim": (1, 16384),
    "depth": (1, 512),
    "num_heads": (1, 1024),
    "mlp_ratio": (0.01, 64.0),
    "num_task_tokens": (0, 4096),
    "drop_path_rate": (0.0, 1.0),
    "decoder_depth": (1, 256),
    "decoder_heads": (1, 1024),
    "decoder_head_dim": (1, 4096),
    "decoder_dim_out": (1, 16384),
    "decoder_mlp_dim": (1, 65536),
    "head_dim": (1, 16384),
    "box_dim": (1, 16384),
}
