"""Optimiser schedule (vs torch's CosineAnnealingLR) and the official freezing options."""

from __future__ import annotations

import pytest
import torch
from traintest_helpers import TINY

from ehps.errors import InputError
from ehps.modeling import build_model
from ehps.training.module import CosineSchedule, apply_freeze, cosine_lr_factor


def _reference_lrs(lr: float, min_lr: float, total: int) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=min_lr)
    out = []
    for _ in range(total + 1):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(("lr", "min_lr", "total"), [(1e-5, 1e-6, 50), (5e-4, 1e-5, 37)])
def test_cosine_matches_torch_cosine_annealing(lr: float, min_lr: float, total: int) -> None:
    ref = _reference_lrs(lr, min_lr, total)
    ours = [lr * cosine_lr_factor(t, total, lr, min_lr) for t in range(total + 1)]
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)
    assert ours[0] == pytest.approx(lr) and ours[-1] == pytest.approx(min_lr)


def test_lambda_scheduler_state_round_trip() -> None:
    """The LambdaLR built from a CosineSchedule saves / restores its position and lengths."""
    def make() -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, CosineSchedule]:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([p], lr=1e-3)
        fn = CosineSchedule(1e-3, 1e-5, warmup_steps=3)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, fn), fn

    opt, sched, fn = make()
    fn.total_steps = 20
    lrs = []
    for _ in range(20):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    expected = [1e-3 * cosine_lr_factor(t, 20, 1e-3, 1e-5, 3) for t in range(1, 21)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    # resume at step 8 from a state dict
    opt, sched, fn = make()
    fn.total_steps = 20
    for _ in range(8):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2, sched2, fn2 = make()
    sched2.load_state_dict(state)
    assert fn2.total_steps == 20
    for _ in range(12):
        opt2.step()
        sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(expected[-1], rel=1e-12)


def test_schedule_needs_its_length_before_stepping() -> None:
    with pytest.raises(RuntimeError, match="total_steps"):
        CosineSchedule(1e-3, 1e-5)(1)


def _trainable_tops(model: torch.nn.Module) -> set[str]:
    return {name for name, m in model.named_children()
            if any(p.requires_grad for p in m.parameters())}


def test_freeze_options_follow_the_official_fine_tune_modes() -> None:
    """Official SMPLer-X (common/base.py): neck = box net + hand RoI net; head = the rest."""
    heads = {"body_position_net", "body_regressor", "hand_position_net", "hand_regressor",
             "face_regressor"}
    neck = {"box_net", "hand_roi_net"}
    expect = {
        "none": {"encoder"} | neck | heads,
        "backbone": {"encoder"},
        "neck_and_head": neck | heads,
        "head": heads,
    }
    for option, trainable in expect.items():
        model = build_model("smplerx_s32", **TINY["smplerx"])
        apply_freeze(model, option)
        assert _trainable_tops(model) == trainable, option
    est = build_model("smplestx_s", **TINY["smplestx"])
    apply_freeze(est, "head")
    assert _trainable_tops(est) == {"decoder"}
    with pytest.raises(InputError, match="freeze option"):
        apply_freeze(est, "encoder")
