"""The SMPLest-X decoder: a 6-layer transformer over [task tokens, patch tokens] with
cross-attention to the patch tokens, then grouped linear heads (official-spec a.3, b.4, h.5).

Quirks kept on purpose so that the released weights mean the same thing:

- ``transformer.to_token_embedding`` (Linear 80 -> C) exists in the checkpoint but is never
  called; it is kept (dead) so that strict loading works;
- ``transformer.pos_embedding`` is one (1, 1, C) vector broadcast-added to all 272 tokens;
- the cross-attention context is the raw patch tokens (encoder output), the same at every layer;
- each head reads the *concatenation* of its group of tokens (e.g. 21 body tokens x 512 -> 126).

Keys: ``transformer.transformer.layers.{i}.{0,1,2}.norm.*``, ``...{i}.0.fn.to_qkv.weight``,
``...{i}.0.fn.to_out.0.*``, ``...{i}.1.fn.{to_q,to_kv}.weight``, ``...{i}.1.fn.to_out.0.*``,
``...{i}.2.fn.net.{0,3}.*``, ``token_conv.*``, ``dec_*.*``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SMPLestXDecoder", "TOKEN_GROUPS"]

#: Token groups of the 80 decoder outputs: name -> (first token, count, head output size).
TOKEN_GROUPS: dict[str, tuple[int, int, int]] = {
    "dec_body_root_pose": (0, 1, 6),
    "dec_body_pose": (1, 21, 21 * 6),
    "dec_body_shape": (22, 10, 10),
    "dec_body_cam": (32, 1, 3),
    "dec_hand_root_pose": (33, 2, 2 * 6),
    "dec_hand_pose": (35, 30, 30 * 6),
    "dec_hand_cam": (65, 2, 2 * 3),
    "dec_face_root_pose": (67, 1, 6),
    "dec_face_expression": (68, 10, 10),
    "dec_face_jaw_pose": (78, 1, 6),
    "dec_face_cam": (79, 1, 3),
}


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    return x.reshape(b, n, heads, d // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class _CrossAttention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        q = _split_heads(self.to_q(x), self.heads)
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class _FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        # indices 0 and 3 carry weights, as in the official Sequential (dropouts are no-ops)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, *context: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x), *context)


class _CrossAttnStack(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, head_dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    _PreNorm(dim, _SelfAttention(dim, heads, head_dim)),
                    _PreNorm(dim, _CrossAttention(dim, dim, heads, head_dim)),
                    _PreNorm(dim, _FeedForward(dim, mlp_dim)),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for self_attn, cross_attn, ff in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context) + x
            x = ff(x) + x
        return x


class _TransformerDecoder(nn.Module):
    def __init__(
        self, dim: int, num_tokens: int, depth: int, heads: int, head_dim: int, mlp_dim: int
    ) -> None:
        super().__init__()
        self.to_token_embedding = nn.Linear(num_tokens, dim)  # dead in the official forward
        self.pos_embedding = nn.Parameter(torch.randn(1, 1, dim))
        self.transformer = _CrossAttnStack(dim, depth, heads, head_dim, mlp_dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.transformer(x + self.pos_embedding, context)


class SMPLestXDecoder(nn.Module):
    """Decoder head (official ``TransformerDecoderHead``).

    Args:
        dim: encoder width C.
        num_tokens: task tokens (80).
        depth: transformer layers (6).
        heads: attention heads (8).
        head_dim: attention head width (64).
        dim_out: per-token width after ``token_conv`` (512).
        mlp_dim: FFN hidden width (``None`` = C).
    """

    def __init__(
        self,
        dim: int,
        num_tokens: int = 80,
        depth: int = 6,
        heads: int = 8,
        head_dim: int = 64,
        dim_out: int = 512,
        mlp_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.transformer = _TransformerDecoder(
            dim, num_tokens, depth, heads, head_dim, dim if mlp_dim is None else mlp_dim
        )
        self.token_conv = nn.Linear(dim, dim_out)
        for name, (_, count, out) in TOKEN_GROUPS.items():
            self.add_module(name, nn.Linear(count * dim_out, out))

    def forward(self, task_tokens: torch.Tensor, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Args:
            task_tokens: (B, 80, C) encoder task tokens.
            feat: (B, C, H, W) encoder patch features.

        Returns:
            dict ``head name -> (B, out)`` raw outputs (6D rotations, betas, cameras, expression)
            for every entry of :data:`TOKEN_GROUPS`.
        """
        b = feat.shape[0]
        context = feat.flatten(2).transpose(1, 2)  # (B, H*W, C)
        x = self.transformer(torch.cat((task_tokens, context), dim=1), context)
        tokens = self.token_conv(x[:, : self.num_tokens])  # (B, 80, dim_out)
        return {
            name: getattr(self, name)(tokens[:, first : first + count].reshape(b, -1))
            for name, (first, count, _) in TOKEN_GROUPS.items()
        }
