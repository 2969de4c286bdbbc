"""Test-side references for the networks, written independently of ``ehps.modeling``:

- :func:`official_key_shapes`: the official checkpoint key names and shapes, transcribed from
  official-spec b.3 / b.4 (generic in the width C and depth);
- :func:`random_official_network`: a random ``network`` dict with those keys (``module.`` prefix);
- :func:`reference_forward`: a functional SMPLer-X / SMPLest-X forward computed directly from such
  a raw dict (explicit attention, explicit soft-argmax and bilinear sampling, a loop RoIAlign,
  scipy for matrix -> axis-angle), following the official code's formulas;
- :func:`roi_align_loop`: the literal mmcv RoIAlign loop.

Comparing the ehps module against these proves that every official tensor reaches the module it
belongs to and is used the way the official code uses it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

CROP_HW = (512, 384)
BODY_HW = (256, 192)


# ----------------------------------------------------------------------------- key table
def official_key_shapes(
    family: str, c: int, depth: int, num_tokens: int | None = None
) -> dict[str, tuple[int, ...]]:
    """Official key -> shape (without ``module.``), official-spec b.3 (SMPLer-X) / b.4."""
    t = num_tokens if num_tokens is not None else (31 if family == "smplerx" else 80)
    k: dict[str, tuple[int, ...]] = {
        "encoder.task_tokens": (1, t, c),
        "encoder.pos_embed": (1, 193, c),
        "encoder.patch_embed.proj.weight": (c, 3, 16, 16),
        "encoder.patch_embed.proj.bias": (c,),
        "encoder.last_norm.weight": (c,),
        "encoder.last_norm.bias": (c,),
    }
    for i in range(depth):
        p = f"encoder.blocks.{i}."
        k.update(
            {
                p + "norm1.weight": (c,),
                p + "norm1.bias": (c,),
                p + "attn.qkv.weight": (3 * c, c),
                p + "attn.qkv.bias": (3 * c,),
                p + "attn.proj.weight": (c, c),
                p + "attn.proj.bias": (c,),
                p + "norm2.weight": (c,),
                p + "norm2.bias": (c,),
                p + "mlp.fc1.weight": (4 * c, c),
                p + "mlp.fc1.bias": (4 * c,),
                p + "mlp.fc2.weight": (c, 4 * c),
                p + "mlp.fc2.bias": (c,),
            }
        )

    def bn(prefix: str, n: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            k[f"{prefix}.{name}"] = (n,)
        k[f"{prefix}.num_batches_tracked"] = ()

    def lin(prefix: str, out: int, inp: int) -> None:
        k[f"{prefix}.weight"] = (out, inp)
        k[f"{prefix}.bias"] = (out,)

    if family == "smplerx":
        k["body_position_net.conv.0.weight"] = (400, c, 1, 1)
        k["body_position_net.conv.0.bias"] = (400,)
        lin("body_regressor.body_conv.0", 512, c)
        lin("body_regressor.root_pose_out.0", 6, 12875)
        lin("body_regressor.body_pose_out.0", 126, 12875)
        lin("body_regressor.shape_out.0", 10, c)
        lin("body_regressor.cam_out.0", 3, c)
        k["box_net.deconv.0.weight"] = (c + 400, 256, 4, 4)
        k["box_net.deconv.3.weight"] = (256, 256, 4, 4)
        k["box_net.deconv.6.weight"] = (256, 256, 4, 4)
        for i in (1, 4, 7):
            bn(f"box_net.deconv.{i}", 256)
        k["box_net.bbox_center.0.weight"] = (3, 256, 1, 1)
        k["box_net.bbox_center.0.bias"] = (3,)
        for part in ("lhand", "rhand", "face"):
            lin(f"box_net.{part}_size.0", 256, 256)
            lin(f"box_net.{part}_size.2", 2, 256)
        k["hand_roi_net.deconv.0.weight"] = (c, c // 2, 4, 4)
        bn("hand_roi_net.deconv.1", c // 2)
        k["hand_roi_net.deconv.3.weight"] = (c // 2, c // 4, 4, 4)
        bn("hand_roi_net.deconv.4", c // 4)
        k["hand_roi_net.conv.0.weight"] = (c, c // 4, 1, 1)
        k["hand_roi_net.conv.0.bias"] = (c,)
        k["hand_position_net.conv.0.weight"] = (320, c, 1, 1)
        k["hand_position_net.conv.0.bias"] = (320,)
        k["hand_regressor.hand_conv.0.weight"] = (512, c, 1, 1)
        k["hand_regressor.hand_conv.0.bias"] = (512,)
        bn("hand_regressor.hand_conv.1", 512)
        lin("hand_regressor.hand_pose_out.0", 90, 10300)
        lin("face_regressor.expr_out.0", 10, c)
        lin("face_regressor.jaw_pose_out.0", 6, c)
    else:
        d = "decoder.transformer."
        lin(d + "to_token_embedding", c, 80)
        k[d + "pos_embedding"] = (1, 1, c)
        for i in range(6):
            p = f"{d}transformer.layers.{i}."
            for j in range(3):
                k[f"{p}{j}.norm.weight"] = (c,)
                k[f"{p}{j}.norm.bias"] = (c,)
            k[p + "0.fn.to_qkv.weight"] = (1536, c)
            lin(p + "0.fn.to_out.0", c, 512)
            k[p + "1.fn.to_q.weight"] = (512, c)
            k[p + "1.fn.to_kv.weight"] = (1024, c)
            lin(p + "1.fn.to_out.0", c, 512)
            lin(p + "2.fn.net.0", c, c)
            lin(p + "2.fn.net.3", c, c)
        lin("decoder.token_conv", 512, c)
        heads = {
            "dec_body_root_pose": (6, 512),
            "dec_body_pose": (126, 10752),
            "dec_body_shape": (10, 5120),
            "dec_body_cam": (3, 512),
            "dec_hand_root_pose": (12, 1024),
            "dec_hand_pose": (180, 15360),
            "dec_hand_cam": (6, 1024),
            "dec_face_root_pose": (6, 512),
            "dec_face_expression": (10, 5120),
            "dec_face_jaw_pose": (6, 512),
            "dec_face_cam": (3, 512),
        }
        for name, (out, inp) in heads.items():
            lin(f"decoder.{name}", out, inp)
    return k


def random_official_network(
    family: str, c: int, depth: int, seed: int = 0, legacy_names: bool = False
) -> dict[str, torch.Tensor]:
    """Random tensors under the official keys (with ``module.``), scaled so activations stay
    moderate: LayerNorm/BatchNorm weights near 1, positive running variances, small weights."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    renames = {
        "encoder": "backbone",
        "body_regressor": "body_rotation_net",
        "hand_regressor": "hand_rotation_net",
    }
    for key, shape in official_key_shapes(family, c, depth).items():
        if key.endswith("num_batches_tracked"):
            value = torch.tensor(7, dtype=torch.int64)
        elif key.endswith("running_var"):
            value = torch.rand(shape, generator=g) + 0.5
        elif (
            ".norm" in key
            or "deconv.1." in key
            or "deconv.4." in key
            or "deconv.7." in key
            or "hand_conv.1." in key
            or "last_norm" in key
        ) and key.endswith("weight"):
            value = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 16
            value = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        head, dot, rest = key.partition(".")
        if legacy_names:
            head = renames.get(head, head)
        out[f"module.{head}{dot}{rest}"] = value
    out["module.smplx_layer.J_regressor"] = torch.zeros(55, 7)  # must be dropped by loaders
    return out


# ----------------------------------------------------------------------------- roi align loop
def _bilinear(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    _, height, width = fmap.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return fmap.new_zeros(fmap.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * fmap[:, y_low, x_low]
        + hy * lx * fmap[:, y_low, x_high]
        + ly * hx * fmap[:, y_high, x_low]
        + ly * lx * fmap[:, y_high, x_high]
    )


def roi_align_loop(feat, rois, output_size, spatial_scale=1.0, sampling_ratio=0, aligned=False):
    """mmcv's avg RoIAlign, one RoI, bin and sample at a time."""
    ph_n, pw_n = output_size
    out = feat.new_zeros(rois.shape[0], feat.shape[1], ph_n, pw_n)
    for n in range(rois.shape[0]):
        b, x1, y1, x2, y2 = (float(v) for v in rois[n])
        offset = 0.5 if aligned else 0.0
        sx, sy = x1 * spatial_scale - offset, y1 * spatial_scale - offset
        ex, ey = x2 * spatial_scale - offset, y2 * spatial_scale - offset
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bin_h, bin_w = rh / ph_n, rw / pw_n
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph_n)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw_n)
        count = max(gh * gw, 1)
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = feat.new_zeros(feat.shape[1])
                for iy in range(gh):
                    y = sy + ph * bin_h + (iy + 0.5) * bin_h / gh
                    for ix in range(gw):
                        x = sx + pw * bin_w + (ix + 0.5) * bin_w / gw
                        acc = acc + _bilinear(feat[int(b)], y, x)
                out[n, :, ph, pw] = acc / count
    return out


# ----------------------------------------------------------------------------- functional forward
def _ln(x, sd, prefix, eps):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], eps)


def _lin(x, sd, prefix, bias=True):
    y = x @ sd[prefix + ".weight"].T
    return y + sd[prefix + ".bias"] if bias else y


def _attention(q, k, v, heads):
    b, n, d = q.shape
    m = k.shape[1]
    q = q.reshape(b, n, heads, d // heads).transpose(1, 2)
    k = k.reshape(b, m, heads, d // heads).transpose(1, 2)
    v = v.reshape(b, m, heads, d // heads).transpose(1, 2)
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
    return (w @ v).transpose(1, 2).reshape(b, n, d)


def _vit(sd, img, heads):
    c = sd["encoder.pos_embed"].shape[-1]
    depth = len({k.split(".")[2] for k in sd if k.startswith("encoder.blocks.")})
    x = F.conv2d(
        img,
        sd["encoder.patch_embed.proj.weight"],
        sd["encoder.patch_embed.proj.bias"],
        stride=16,
        padding=2,
    )
    b, _, h, w = x.shape
    pos = sd["encoder.pos_embed"]
    x = x.flatten(2).transpose(1, 2) + pos[:, 1:] + pos[:, 0:1]
    x = torch.cat((sd["encoder.task_tokens"].repeat(b, 1, 1), x), dim=1)
    for i in range(depth):
        p = f"encoder.blocks.{i}."
        qkv = _lin(_ln(x, sd, p + "norm1", 1e-6), sd, p + "attn.qkv")
        q, k, v = qkv[..., :c], qkv[..., c : 2 * c], qkv[..., 2 * c :]
        x = x + _lin(_attention(q, k, v, heads), sd, p + "attn.proj")
        hid = F.gelu(_lin(_ln(x, sd, p + "norm2", 1e-6), sd, p + "mlp.fc1"))
        x = x + _lin(hid, sd, p + "mlp.fc2")
    x = _ln(x, sd, "encoder.last_norm", 1e-6)
    t = sd["encoder.task_tokens"].shape[1]
    return x[:, t:].transpose(1, 2).reshape(b, c, h, w), x[:, :t]


def _bn(x, sd, p):
    return F.batch_norm(
        x,
        sd[p + ".running_mean"],
        sd[p + ".running_var"],
        sd[p + ".weight"],
        sd[p + ".bias"],
        training=False,
        eps=1e-5,
    )


def _deconv_bn_relu(x, sd, prefix, index):
    x = F.conv_transpose2d(x, sd[f"{prefix}.{index}.weight"], stride=2, padding=1)
    return torch.relu(_bn(x, sd, f"{prefix}.{index + 1}"))


def _softargmax(logits):
    """(B, J, *grid) -> expected coordinates (x first, then y, then z), explicit meshgrid."""
    b, j = logits.shape[:2]
    grid = logits.shape[2:]
    p = torch.softmax(logits.reshape(b, j, -1), dim=-1).reshape(logits.shape)
    axes = torch.meshgrid(*[torch.arange(n, dtype=p.dtype) for n in grid], indexing="ij")
    coords = [(p * a).flatten(2).sum(-1) for a in axes]  # order: slowest axis first
    return torch.stack(coords[::-1], dim=-1), p


def _bilinear_sample(fmap, xy):
    """(B, C, H, W), (B, J, 2) pixel coordinates -> (B, J, C); zero outside (align_corners)."""
    b, c, h, w = fmap.shape
    out = fmap.new_zeros(b, xy.shape[1], c)
    x0, y0 = torch.floor(xy[..., 0]), torch.floor(xy[..., 1])
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - (xy[..., 0] - xi).abs()) * (1 - (xy[..., 1] - yi).abs())
            valid = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            xi_c, yi_c = xi.clamp(0, w - 1).long(), yi.clamp(0, h - 1).long()
            for bi in range(b):
                vals = fmap[bi][:, yi_c[bi], xi_c[bi]].T  # (J, C)
                out[bi] += vals * (wgt[bi] * valid[bi])[:, None]
    return out


def _rot6d_to_matrix(x6):
    m = x6.reshape(-1, 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = a1 / a1.norm(dim=-1, keepdim=True)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True)
    return torch.stack((b1, b2, torch.linalg.cross(b1, b2)), dim=-1)


def _matrix_to_aa(rotmat):
    flat = rotmat.reshape(-1, 3, 3).double().numpy()
    return torch.from_numpy(Rotation.from_matrix(flat).as_rotvec()).reshape(*rotmat.shape[:-2], 3)


def _restore_box(center, size, ext):
    """Official restore_bbox with aspect ratio 1, written with numpy on one box at a time."""
    out = []
    for (cx, cy), (w, h) in zip(center.tolist(), size.tolist()):
        x0, y0, x1, y1 = (cx - w / 2) * 16, (cy - h / 2) * 16, (cx + w / 2) * 16, (cy + h / 2) * 16
        bw, bh = x1 - x0, y1 - y0
        mx, my = x0 + bw / 2, y0 + bh / 2
        if bw > bh:
            bh = bw
        elif bw < bh:
            bw = bh
        bw, bh = bw * ext, bh * ext
        out.append([mx - bw / 2, my - bh / 2, mx + bw / 2, my + bh / 2])
    return torch.tensor(out, dtype=center.dtype)


def reference_forward(raw: dict[str, torch.Tensor], images: torch.Tensor, heads: int) -> dict:
    """Functional forward from an official ``network`` dict (keys with ``module.`` and possibly
    legacy names); returns a dict of outputs named like :class:`ehps.modeling.Prediction`."""
    renames = {
        "backbone": "encoder",
        "body_rotation_net": "body_regressor",
        "hand_rotation_net": "hand_regressor",
    }
    sd = {}
    for key, value in raw.items():
        key = key.removeprefix("module.")
        head, dot, rest = key.partition(".")
        if head != "smplx_layer":
            sd[renames.get(head, head) + dot + rest] = (
                value.double() if value.is_floating_point() else value
            )
    img = F.interpolate(images.double(), size=BODY_HW, mode="nearest")
    feat, tok = _vit(sd, img, heads)
    b = img.shape[0]
    if "decoder.token_conv.weight" in sd:
        return _reference_smplestx(sd, feat, tok, b)
    return _reference_smplerx(sd, feat, tok, b)


def _reference_smplerx(sd, feat, tok, b):
    logits = F.conv2d(
        feat, sd["body_position_net.conv.0.weight"], sd["body_position_net.conv.0.bias"]
    )
    body_xyz, body_p = _softargmax(logits.reshape(b, 25, 16, 16, 12))
    bt = _lin(tok[:, 6:31], sd, "body_regressor.body_conv.0")
    jf = torch.cat((bt, body_xyz), dim=2).reshape(b, -1)
    root6 = _lin(jf, sd, "body_regressor.root_pose_out.0")
    body6 = _lin(jf, sd, "body_regressor.body_pose_out.0")
    betas = _lin(tok[:, 0], sd, "body_regressor.shape_out.0")
    cam = _lin(tok[:, 1], sd, "body_regressor.cam_out.0")

    x = torch.cat((feat, body_p.reshape(b, 400, 16, 12)), dim=1)
    for i in (0, 3, 6):
        x = _deconv_bn_relu(x, sd, "box_net.deconv", i)
    center_logits = F.conv2d(
        x, sd["box_net.bbox_center.0.weight"], sd["box_net.bbox_center.0.bias"]
    )
    centers_px, _ = _softargmax(center_logits)  # (B, 3, 2) in 128x96 pixels
    part_feat = _bilinear_sample(x, centers_px)
    sizes = []
    for i, part in enumerate(("lhand", "rhand", "face")):
        hid = torch.relu(_lin(part_feat[:, i], sd, f"box_net.{part}_size.0"))
        sizes.append(_lin(hid, sd, f"box_net.{part}_size.2"))
    centers = centers_px / 8
    boxes = [_restore_box(centers[:, i], sizes[i], e) for i, e in enumerate((2.0, 2.0, 1.5))]

    up = _deconv_bn_relu(feat, sd, "hand_roi_net.deconv", 0)
    up = _deconv_bn_relu(up, sd, "hand_roi_net.deconv", 3)
    idx = torch.arange(b, dtype=up.dtype)[:, None]
    lroi = roi_align_loop(up, torch.cat((idx, boxes[0] / 4), 1), (16, 16))
    rroi = roi_align_loop(up, torch.cat((idx, boxes[1] / 4), 1), (16, 16))
    hf = torch.cat((lroi.flip(3), rroi), dim=0)
    hf = F.conv2d(hf, sd["hand_roi_net.conv.0.weight"], sd["hand_roi_net.conv.0.bias"])
    hlog = F.conv2d(hf, sd["hand_position_net.conv.0.weight"], sd["hand_position_net.conv.0.bias"])
    hand_xyz, _ = _softargmax(hlog.reshape(2 * b, 20, 16, 16, 16))
    hc = F.conv2d(
        hf, sd["hand_regressor.hand_conv.0.weight"], sd["hand_regressor.hand_conv.0.bias"]
    )
    hc = torch.relu(_bn(hc, sd, "hand_regressor.hand_conv.1"))
    hj = torch.cat((_bilinear_sample(hc, hand_xyz[..., :2]), hand_xyz), dim=2).reshape(2 * b, -1)
    hand6 = _lin(hj, sd, "hand_regressor.hand_pose_out.0")
    expr = _lin(tok[:, 2], sd, "face_regressor.expr_out.0")
    jaw6 = _lin(tok[:, 3], sd, "face_regressor.jaw_pose_out.0")

    aa = lambda x6: _matrix_to_aa(_rot6d_to_matrix(x6))  # noqa: E731
    lhand = aa(hand6[:b]).reshape(b, 15, 3) * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    lj = hand_xyz[:b].clone()
    lj[..., 0] = 15 - lj[..., 0]

    def to_body(j, box):
        j = j.clone()
        j[..., 0] = (
            j[..., 0] * ((box[:, 2:3] - box[:, 0:1]) / 192 * 12 / 16) + box[:, 0:1] / 192 * 12
        )
        j[..., 1] = (
            j[..., 1] * ((box[:, 3:4] - box[:, 1:2]) / 256 * 16 / 16) + box[:, 1:2] / 256 * 16
        )
        return j

    tz = math.sqrt(5000 * 5000 * 2.5 * 2.5 / (256 * 192)) / (1 + torch.exp(-cam[:, 2:3]))
    return {
        "global_orient": aa(root6).reshape(b, 3),
        "body_pose": aa(body6).reshape(b, 21, 3),
        "left_hand_pose": lhand,
        "right_hand_pose": aa(hand6[b:]).reshape(b, 15, 3),
        "jaw_pose": aa(jaw6).reshape(b, 3),
        "betas": betas,
        "expression": expr,
        "cam_trans": torch.cat((cam[:, :2], tz), dim=1),
        "body_joint_img": body_xyz,
        "hand_joint_img_box": torch.cat((lj, hand_xyz[b:]), dim=1),
        "hand_joint_img": torch.cat(
            (to_body(lj, boxes[0]), to_body(hand_xyz[b:], boxes[1])), dim=1
        ),
        "lhand_bbox": boxes[0] * 2,
        "rhand_bbox": boxes[1] * 2,
        "face_bbox": boxes[2] * 2,
        "lhand_bbox_center": centers[:, 0],
        "lhand_bbox_size": sizes[0],
        "face_bbox_size": sizes[2],
    }


def _reference_smplestx(sd, feat, tok, b):
    ctx = feat.flatten(2).transpose(1, 2)
    x = torch.cat((tok, ctx), dim=1) + sd["decoder.transformer.pos_embedding"]
    for i in range(6):
        p = f"decoder.transformer.transformer.layers.{i}."
        h = _ln(x, sd, p + "0.norm", 1e-5)
        q, k, v = _lin(h, sd, p + "0.fn.to_qkv", bias=False).chunk(3, dim=-1)
        x = x + _lin(_attention(q, k, v, 8), sd, p + "0.fn.to_out.0")
        h = _ln(x, sd, p + "1.norm", 1e-5)
        k, v = _lin(ctx, sd, p + "1.fn.to_kv", bias=False).chunk(2, dim=-1)
        q = _lin(h, sd, p + "1.fn.to_q", bias=False)
        x = x + _lin(_attention(q, k, v, 8), sd, p + "1.fn.to_out.0")
        h = _ln(x, sd, p + "2.norm", 1e-5)
        x = x + _lin(F.gelu(_lin(h, sd, p + "2.fn.net.0")), sd, p + "2.fn.net.3")
    t = _lin(x, sd, "decoder.token_conv")[:, :80]

    def head(name, first, count):
        return _lin(t[:, first : first + count].reshape(b, -1), sd, f"decoder.{name}")

    aa = lambda x6: _matrix_to_aa(_rot6d_to_matrix(x6))  # noqa: E731
    hand = head("dec_hand_pose", 35, 30)
    cam = head("dec_body_cam", 32, 1)
    tz = math.sqrt(5000 * 5000 * 2.5 * 2.5 / (256 * 192)) / (1 + torch.exp(-cam[:, 2:3]))
    return {
        "global_orient": aa(head("dec_body_root_pose", 0, 1)).reshape(b, 3),
        "body_pose": aa(head("dec_body_pose", 1, 21)).reshape(b, 21, 3),
        "betas": head("dec_body_shape", 22, 10),
        "cam_trans": torch.cat((cam[:, :2], tz), dim=1),
        "hand_root_pose": aa(head("dec_hand_root_pose", 33, 2)).reshape(b, 2, 3),
        "left_hand_pose": aa(hand[:, :90]).reshape(b, 15, 3),
        "right_hand_pose": aa(hand[:, 90:]).reshape(b, 15, 3),
        "expression": head("dec_face_expression", 68, 10),
        "jaw_pose": aa(head("dec_face_jaw_pose", 78, 1)).reshape(b, 3),
    }


def as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().numpy()
