"""A ViTPose-style plain ViT with learned task tokens: the SMPLer-X / SMPLest-X encoder.

Written for ehps (timm cannot be imported beside the CPU torch build used here; see
ARCHITECTURE.md note A) and kept key-compatible with the official encoder, whose quirks matter
for loading the released weights (official-spec a.1, h.1):

- the patch embedding is a 16x16 / stride-16 convolution with **padding 2**, which turns the
  256x192 body input into a 16x12 grid of 192 patches;
- the position embedding has 193 slots (ViTPose's class slot kept) and slot 0 is **added to every
  patch** together with slots 1..192;
- the task tokens get **no** position embedding; they are prepended to the patch tokens;
- pre-norm blocks (LayerNorm eps 1e-6, fused-qkv attention with bias, exact-GELU MLP),
  stochastic depth, a final LayerNorm.

State-dict keys: ``task_tokens`` (1, N, C), ``pos_embed`` (1, 193, C),
``patch_embed.proj.{weight,bias}``,
``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``, ``last_norm.*`` — identical to
the official names (and to ViTPose's ``backbone.*`` minus the prefix).

``stem="conv"`` (not official; for narrow encoders trained from scratch) replaces the 16x16
patchify convolution with :class:`ConvStem`, four 3x3 stride-2 convolutions that reach the same
16x12 grid (Xiao et al. 2021, "Early convolutions help transformers see better"). Measured with
``scripts/root_orientation_probe.py`` on 4,000 ``ehps synth`` crops: a width-64 encoder with the
patchify stem gets the root orientation to 45.5 deg held-out after 1,500 steps (constant: 49.4),
with the conv stem 24.4 deg. End to end (narrow SMPLer-X, 1,000 images, 3,000 steps at lr 1e-3,
``scripts/train_synthetic_demo.py``) the held-out MPVPE is 195.4 mm with it and 261.5 mm with the
patchify stem, against 279.5 mm for the best constant. Its keys are ``patch_embed.convs.*`` and
``patch_embed.proj.*``; official and ViTPose weights need the patchify stem.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ViT", "DropPath", "PatchEmbed", "ConvStem", "PATCH_GRID_HW", "STEM_CHANNELS"]

#: Patch grid (rows, cols) for the 256x192 body input.
PATCH_GRID_HW: tuple[int, int] = (16, 12)

#: Output channels of the four stride-2 convolutions of :class:`ConvStem`.
STEM_CHANNELS: tuple[int, int, int, int] = (32, 64, 64, 128)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability ``p``
    (training only), rescaling kept samples by 1 / (1 - p)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class PatchEmbed(nn.Module):
    """(B, 3, 256, 192) -> (B, 192, C) tokens via a 16x16 stride-16 conv with padding 2."""

    def __init__(self, embed_dim: int, patch_size: int = 16, padding: int = 2) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            3, embed_dim, kernel_size=patch_size, stride=patch_size, padding=padding
        )

    @property
    def input_conv(self) -> nn.Conv2d:
        """The convolution that sees the raw image (for folding an input normalisation)."""
        return self.proj

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        hp, wp = x.shape[-2], x.shape[-1]
        return x.flatten(2).transpose(1, 2), hp, wp


class ConvStem(nn.Module):
    """(B, 3, 256, 192) -> (B, 192, C) tokens via four 3x3 stride-2 convolutions (BatchNorm,
    ReLU) and a 1x1 projection to C: the same 16x12 grid as :class:`PatchEmbed`.

    BatchNorm as in Xiao et al.: on the root-orientation probe it learned faster than GroupNorm(8)
    (24.4 vs 31.1 deg held-out after 1,000-1,500 steps). Its batch statistics make a sample's
    training-mode output depend on its batch; multi-GPU runs synchronise them
    (``sync_batchnorm``), but ``SyncBatchNorm`` has no CPU kernel, so a multi-process CPU run of a
    conv-stem model normalises per rank."""

    def __init__(self, embed_dim: int, channels: tuple[int, ...] = STEM_CHANNELS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in channels:
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout),
                       nn.ReLU()]
            cin = cout
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(cin, embed_dim, kernel_size=1)

    @property
    def input_conv(self) -> nn.Conv2d:
        """The convolution that sees the raw image (for folding an input normalisation)."""
        return self.convs[0]  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(self.convs(x))
        hp, wp = x.shape[-2], x.shape[-1]
        return x.flatten(2).transpose(1, 2), hp, wp


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (keys ``qkv``, ``proj``)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Linear -> exact GELU -> Linear (keys ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_hidden)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ViT(nn.Module):
    """ViTPose-style ViT with task tokens.

    Args:
        embed_dim: width C.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_hidden: MLP hidden width (4 C officially).
        num_task_tokens: learned tokens prepended to the patches (31 SMPLer-X, 80 SMPLest-X).
        drop_path_rate: stochastic depth of the last block; block i uses rate * i / (depth - 1).
        num_patches: patch count the position embedding is sized for (192 for 256x192 input).
        stem: ``"patch"`` (official 16x16 patchify convolution) or ``"conv"`` (:class:`ConvStem`).
    """

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_hidden: int,
        num_task_tokens: int,
        drop_path_rate: float = 0.0,
        num_patches: int = PATCH_GRID_HW[0] * PATCH_GRID_HW[1],
        stem: str = "patch",
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_task_tokens = num_task_tokens
        if stem not in ("patch", "conv"):
            raise ValueError(f"stem must be 'patch' or 'conv', not {stem!r}")
        self.patch_embed: PatchEmbed | ConvStem = (
            PatchEmbed(embed_dim) if stem == "patch" else ConvStem(embed_dim))
        self.task_tokens = nn.Parameter(torch.zeros(1, num_task_tokens, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist() if depth else []
        self.blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, mlp_hidden, rates[i]) for i in range(depth)]
        )
        self.last_norm = nn.LayerNorm(embed_dim, eps=1e-6)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Random initialisation as the official encoder: trunc-normal(0.02) tokens, position
        embedding and Linear weights, zero Linear biases, LayerNorm (1, 0)."""
        nn.init.trunc_normal_(self.task_tokens, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, body_img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode the body input.

        Args:
            body_img: (B, 3, 256, 192) RGB in [0, 1] (no mean/std normalisation).

        Returns:
            feat: (B, C, 16, 12) patch features (after the final LayerNorm).
            task_tokens: (B, N_tok, C) the task tokens after the final LayerNorm.
        """
        b = body_img.shape[0]
        x, hp, wp = self.patch_embed(body_img)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        x = torch.cat((self.task_tokens.expand(b, -1, -1), x), dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.last_norm(x)
        n = self.num_task_tokens
        feat = x[:, n:].transpose(1, 2).reshape(b, self.embed_dim, hp, wp)
        return feat, x[:, :n]
