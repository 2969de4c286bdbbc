"""Every evaluator end to end on a miniature copy of its benchmark's layout: feeding the ground
truth through the pipeline (oracle) gives zero error, and perturbed predictions give what the
per-sample numpy transcription of the official formulas gives."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from eval_minidata import (
    smplx_mesh,
    write_agora_test,
    write_agora_val,
    write_ehf,
    write_humandata_benchmark,
    write_pw3d,
    write_ubody,
)
from eval_reference import mean_over, smplerx_reference

from ehps.errors import InputError
from ehps.evaluation.benchmarks import get_benchmark, list_benchmarks
from ehps.evaluation.benchmarks.base import stack_params
from ehps.evaluation.benchmarks.ubody import project_like_ubody
from ehps.evaluation.blocks import SMPLERX_KEYS, SMPLESTX_KEYS, UBODY_KEYS
from ehps.evaluation.runner import oracle_predict_fn, run_evaluation
from ehps.geometry.camera import crop_intrinsics_to_image

TOL_MM = 1e-3  # float32 meshes: "zero" means below a micrometre


def _zero(report, keys):
    assert list(report.metrics) == list(keys)
    for k in keys:
        assert report.metrics[k] is not None, k
        assert abs(report.metrics[k]) < TOL_MM, (k, report.metrics[k])


def _perturb(oracle: dict, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for key, p in oracle.items():
        q = {k: v.copy() for k, v in p.items()}
        for k in ("body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "global_orient"):
            q[k] = q[k] + rng.normal(0, 0.15, q[k].shape).astype(np.float32)
        q["betas"] = q["betas"] + rng.normal(0, 0.5, 10).astype(np.float32)
        q["cam_trans"] = q["cam_trans"] + np.array([0.05, -0.03, 1.0], np.float32)
        out[key] = q
    return out


def test_all_benchmarks_registered():
    assert list_benchmarks() == ["agora_test", "agora_val", "arctic", "egobody", "ehf",
                                 "humandata", "pw3d", "renbody", "synhand", "ubody"]
    with pytest.raises(InputError, match="available"):
        get_benchmark("nope")


def test_ehf_oracle_zero_and_perturbed_matches_reference(tmp_path, eval_context):
    import cv2

    oracle = write_ehf(tmp_path, eval_context)
    ev = get_benchmark("ehf")(tmp_path, eval_context)
    assert [s.key for s in ev.samples()] == ["100", "101", "102"]
    _zero(run_evaluation(ev, oracle_predict_fn(oracle), batch_size=2), SMPLERX_KEYS)

    pert = _perturb(oracle)
    report = run_evaluation(ev, oracle_predict_fn(pert), batch_size=2)
    rot, _ = cv2.Rodrigues(np.array([-2.98747896, 0.01172457, -0.05704687]).reshape(3, 1))
    refs = []
    for key, p in pert.items():
        pred, _ = smplx_mesh(eval_context, p)
        gt_world, _ = smplx_mesh(eval_context, oracle[key])
        gt = (rot @ (gt_world @ rot).T).T  # what the PLY holds, rotated back
        refs.append(smplerx_reference(pred, gt, eval_context.topology))
    for k in SMPLERX_KEYS:
        assert report.metrics[k] == pytest.approx(mean_over(refs, k), rel=1e-4, abs=1e-3), k
    assert report.metrics["mpvpe_all"] > 10.0  # the perturbation is visible


def test_ehf_missing_files_error_lists_layout(tmp_path, eval_context):
    ev = get_benchmark("ehf")(tmp_path, eval_context)
    with pytest.raises(InputError, match=r"EHF/data/EHF\.json"):
        ev.samples()


def test_agora_val_oracle_zero_and_server_protocol(tmp_path, eval_context):
    oracle, _ = write_agora_val(tmp_path, eval_context)
    ev = get_benchmark("agora_val")(tmp_path, eval_context, body_vertex_ids=np.arange(4010))
    report = run_evaluation(ev, oracle_predict_fn(oracle), batch_size=3)
    _zero(report, SMPLERX_KEYS[:10])
    server = report.extra["agora_server_protocol_on_val"]
    assert (server["f1"], server["num_valid_gt"], server["num_misses"]) == (1.0, 4, 0)
    assert server["num_false_positives"] == 0
    for k in ("fullbody_nmve", "fullbody_nmje", "body_mve", "lhand_mpjpe", "face_mve"):
        assert server[k] == 0.0, k


def test_agora_val_drops_missed_people_from_f1(tmp_path, eval_context):
    oracle, _ = write_agora_val(tmp_path, eval_context)
    # a prediction far off in depth projects to a tiny blob: IoU < 0.1 -> miss + false positive
    far = {k: ({**v, "cam_trans": v["cam_trans"] * np.array([1, 1, 40], np.float32)}
               if k == "0" else v) for k, v in oracle.items()}
    ev = get_benchmark("agora_val")(tmp_path, eval_context)
    report = run_evaluation(ev, oracle_predict_fn(far))
    server = report.extra["agora_server_protocol_on_val"]
    assert (server["num_misses"], server["num_false_positives"]) == (1, 1)
    assert server["f1"] == round(3 / (3 + 0.5 * 2), 2)
    assert server["body_mve"] is None  # no body vertex subset given


def test_agora_test_submission(tmp_path, eval_context):
    oracle, joints_4k = write_agora_test(tmp_path, eval_context)
    ev = get_benchmark("agora_test")(tmp_path, eval_context, output_dir=tmp_path / "out")
    report = run_evaluation(ev, oracle_predict_fn(oracle))
    assert report.counts["people"] == 3
    assert report.metrics == {"fullbody_nmve": None}  # scored by the AGORA server
    files = sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir())
    assert files == ["ag_testset_synthetic_cam01_00000_personId_0.pkl",
                     "ag_testset_synthetic_cam01_00000_personId_1.pkl",
                     "ag_testset_synthetic_cam01_00001_personId_0.pkl"]
    for key, expected in joints_4k.items():
        name, pid = key.split("#")
        with open(tmp_path / "out" / "predictions" / f"{name[:-4]}_personId_{pid}.pkl", "rb") as f:
            rec = pickle.load(f)  # our own output
        assert rec["joints"].shape == (1, 144, 2)
        # independent projection (crop intrinsics in crop pixels, inverse crop affine)
        np.testing.assert_allclose(rec["joints"][0], expected, atol=0.05)
        np.testing.assert_allclose(rec["params"]["transl"][0], oracle[key]["cam_trans"])
        np.testing.assert_allclose(rec["params"]["body_pose"][0],
                                   oracle[key]["body_pose"].reshape(-1))
    names = zipfile.ZipFile(report.extra["submission_zip"]).namelist()
    assert len(names) == 3 and all(n.startswith("predictions/") for n in names)


def test_agora_test_needs_output_dir(tmp_path, eval_context):
    with pytest.raises(InputError, match="output_dir"):
        get_benchmark("agora_test")(tmp_path, eval_context)


def test_ubody_selection_oracle_and_masking(tmp_path, eval_context):
    oracle = write_ubody(tmp_path, eval_context)
    ev = get_benchmark("ubody")(tmp_path, eval_context, sample_interval=2)
    samples = ev.samples()
    assert [s.key for s in samples] == ["TalkShow/1002", "TalkShow/1006", "TalkShow/1008"]
    # ratio 1.25 (not 1.2) on the clipped box (h - 1 = 179), widened to 3:4
    np.testing.assert_allclose(samples[0].crop_bbox_xywh[2:], [179 * 1.25 * 0.75, 179 * 1.25])
    report = run_evaluation(ev, oracle_predict_fn(oracle), batch_size=2)
    _zero(report, UBODY_KEYS)
    assert report.counts["pa_mpvpe_hand"] == 2  # person 8: both hands outside the image

    pert = _perturb(oracle)
    report = run_evaluation(ev, oracle_predict_fn(pert), batch_size=2)
    refs = []
    topo = eval_context.topology
    for s in samples:
        pred, _ = smplx_mesh(eval_context, pert[s.key])
        gt, _ = smplx_mesh(eval_context, oracle[s.key])
        # independent visibility: the crop camera expressed in image pixels (official-spec a.5)
        k = crop_intrinsics_to_image(s.crop_bbox_xywh)

        def vis(points, k=k):
            uv = np.stack([points[:, 0] / points[:, 2] * k.fx + k.cx,
                           points[:, 1] / points[:, 2] * k.fy + k.cy], 1)
            return (uv[:, 0] > 0) & (uv[:, 0] < 320) & (uv[:, 1] > 0) & (uv[:, 1] < 240)

        hands = [topo.hand_regressors[i].numpy() @ gt for i in (0, 1)]
        refs.append(smplerx_reference(pred, gt, topo, vis(gt),
                                      vis(topo.j14_regressor.numpy() @ gt),
                                      (vis(hands[0]), vis(hands[1]))))
    assert 0 < int(vis(smplx_mesh(eval_context, oracle["TalkShow/1008"])[0]).sum()) < 10475
    for key in UBODY_KEYS:
        assert report.metrics[key] == pytest.approx(mean_over(refs, key), rel=1e-3), key


def test_ubody_projection_equals_crop_intrinsics(eval_context):
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(2, 50, 3, generator=g, dtype=torch.float64) + torch.tensor([0, 0, 30.0])
    t = torch.tensor([[0.1, 0.2, 3.0], [-0.3, 0.0, 1.0]], dtype=torch.float64)
    boxes = [np.array([10, 20, 96, 128], np.float32), np.array([50, 0, 150, 200], np.float32)]
    from ehps.geometry.crop import crop_transform

    crop2img = torch.tensor(np.stack([
        crop_transform((b[0] + b[2] / 2, b[1] + b[3] / 2), (b[2], b[3]), inverse=True)
        for b in boxes]), dtype=torch.float64)  # fmt: skip
    uv = project_like_ubody(pts - t[:, None], t, crop2img)
    for i, b in enumerate(boxes):
        k = crop_intrinsics_to_image(b)
        p = (pts[i]).numpy()
        ref = np.stack([p[:, 0] / (p[:, 2] + 1e-4) * k.fx + k.cx,
                        p[:, 1] / (p[:, 2] + 1e-4) * k.fy + k.cy], 1)
        np.testing.assert_allclose(uv[i].numpy(), ref, atol=1e-6)


@pytest.mark.parametrize(
    "name,annotation,image_dir,folder",
    [
        ("egobody", "egobody_egocentric_test_230425_043_fix_betas.npz", "EgoBody",
         "preprocessed_datasets"),
        ("renbody", "renbody_test_highrescam_230517_78_0_fix_betas.npz", "RenBody",
         "preprocessed_datasets"),
    ],
)
def test_humandata_benchmarks_smplerx_oracle_zero(tmp_path, eval_context, name, annotation,
                                                  image_dir, folder):
    n, nan_row = (7, 3) if name == "egobody" else (21, 10)  # test intervals 1 and 10
    oracle = write_humandata_benchmark(tmp_path, eval_context, annotation, image_dir, n=n,
                                       nan_row=nan_row, folder=folder)
    ev = get_benchmark(name)(tmp_path, eval_context)
    keys = [s.key for s in ev.samples()]
    interval = ev.sample_interval
    assert interval == (1 if name == "egobody" else 10)
    assert keys == [str(i) for i in range(0, n, interval) if i != nan_row]  # NaN row dropped
    _zero(run_evaluation(ev, oracle_predict_fn(oracle), batch_size=4), SMPLERX_KEYS)


def test_smplerx_pseudo_gt_uses_mean_shape_for_extreme_betas(tmp_path, eval_context):
    oracle = write_humandata_benchmark(tmp_path, eval_context,
                                       "renbody_test_highrescam_230517_78_0_fix_betas.npz",
                                       "RenBody", n=11, extreme_beta_row=10)
    ev = get_benchmark("renbody")(tmp_path, eval_context)
    stored = run_evaluation(ev, oracle_predict_fn(oracle))
    assert stored.metrics["pa_mpvpe_all"] > 1.0  # row 10 is scored against the mean shape
    mean_shape = {**oracle, "10": {**oracle["10"], "betas": np.zeros(10, np.float32)}}
    _zero(run_evaluation(ev, oracle_predict_fn(mean_shape)), SMPLERX_KEYS)
    # SMPLest-X keeps the stored shape (its GT mesh is computed before the clamp)
    ev2 = get_benchmark("renbody")(tmp_path, eval_context, protocol="smplestx")
    assert ev2.samples()[1].gt["record"]["betas"][0] == 4.0


def test_synhand_smplestx_subtracts_mean_hand(tmp_path, eval_context):
    oracle = write_humandata_benchmark(tmp_path, eval_context,
                                       "synhand_20241018_test_241023_1188_fix_betas.npz",
                                       "img/synbody", n=21, flat_hand_mean_labels=True,
                                       folder="annot")
    ev = get_benchmark("synhand")(tmp_path, eval_context)
    assert ev.protocol == "smplestx"
    report = run_evaluation(ev, oracle_predict_fn(oracle))
    _zero(report, SMPLESTX_KEYS)
    assert report.counts["dropped_pa_mpjpe_l_hand"] == 0
    # the SMPLer-X protocol reads the same labels without subtracting: the hands are off
    ev2 = get_benchmark("synhand")(tmp_path, eval_context, protocol="smplerx")
    assert run_evaluation(ev2, oracle_predict_fn(oracle)).metrics["pa_mpvpe_hand"] > 1.0


def test_arctic_smplestx_uses_vertices3d(tmp_path, eval_context):
    oracle = write_humandata_benchmark(tmp_path, eval_context, "p1_val.npz", "ARCTIC", n=11,
                                       flat_hand_mean_labels=True, vertices3d=True)
    ev = get_benchmark("arctic")(tmp_path, eval_context, protocol="smplestx")
    assert "vertices3d_path" in ev.samples()[0].gt
    _zero(run_evaluation(ev, oracle_predict_fn(oracle)), SMPLESTX_KEYS)


def test_generic_humandata_needs_annotation(tmp_path, eval_context):
    with pytest.raises(InputError, match="annotation"):
        get_benchmark("humandata")(tmp_path, eval_context)
    oracle = write_humandata_benchmark(tmp_path, eval_context, "mine.npz", "imgs", n=3,
                                       folder="")
    ev = get_benchmark("humandata")(tmp_path, eval_context, annotation="mine.npz",
                                    image_dir="imgs")
    _zero(run_evaluation(ev, oracle_predict_fn(oracle)), SMPLERX_KEYS)


@pytest.mark.parametrize("protocol", ["smplerx", "smplestx", "h36m"])
def test_pw3d_three_protocols_oracle_zero(tmp_path, eval_context, protocol):
    oracle = write_pw3d(tmp_path, eval_context)
    ev = get_benchmark("pw3d")(tmp_path, eval_context, protocol=protocol)
    report = run_evaluation(ev, oracle_predict_fn(oracle), batch_size=2)
    assert report.protocol == protocol
    keys = {"smplerx": ["mpjpe_body", "pa_mpjpe_body"],
            "smplestx": ["mpvpe_all", "pa_mpvpe_all", "mpjpe_body", "pa_mpjpe_body"],
            "h36m": ["mpjpe_body", "pa_mpjpe_body", "mpvpe_all"]}[protocol]
    _zero(report, keys)
    phrase = {"smplerx": "SMPLer-X protocol", "smplestx": "SMPLest-X protocol",
              "h36m": "community protocol"}[protocol]
    assert phrase in report.notes[0]


def test_pw3d_ground_truth_uses_the_annotated_gender(tmp_path, eval_context, smpl_side_files):
    import smplx as smplx_ref  # reference implementation (test only)

    from ehps.evaluation.benchmarks.pw3d import smpl_gt_meshes

    write_pw3d(tmp_path, eval_context, n=1, gender="male")
    rec = get_benchmark("pw3d")(tmp_path, eval_context).samples()[0].gt["smpl_param"]
    ours = smpl_gt_meshes(eval_context, [rec])[0]
    ref = smplx_ref.SMPL(model_path=str(smpl_side_files["SMPL_MALE"]))
    pose = torch.tensor(rec["pose"], dtype=torch.float32).reshape(1, 72)
    out = ref(global_orient=pose[:, :3], body_pose=pose[:, 3:],
              betas=torch.tensor([rec["shape"]], dtype=torch.float32),
              transl=torch.tensor([rec["trans"]], dtype=torch.float32))
    # smplx runs in float32: its rounding grows with the coordinates (3DPW translations are
    # metres away from the origin), so the bound is a few float32 ulps of each value
    u32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(ours.numpy(), out.vertices[0].double().numpy(), atol=2e-6,
                               rtol=8 * u32)


def test_pw3d_missing_smpl_side_files_are_named(tmp_path, synthetic_smplx_dir, monkeypatch):
    from ehps.errors import BodyModelError
    from ehps.evaluation.benchmarks.base import EvalContext

    monkeypatch.delenv("EHPS_BODY_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ctx = EvalContext.from_paths(synthetic_smplx_dir)
    write_pw3d(tmp_path, ctx, n=1)
    ev = get_benchmark("pw3d")(tmp_path, ctx, protocol="h36m")
    with pytest.raises(BodyModelError, match="smplx2smpl"):
        run_evaluation(ev, oracle_predict_fn({}))
    with pytest.raises(BodyModelError, match="SMPL_NEUTRAL"):
        ctx.smpl("neutral")


def test_stack_params_shapes():
    rec = {k: np.zeros(s) for k, s in
           {"global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45,
            "jaw_pose": 3, "betas": 10, "expression": 10, "cam_trans": 3}.items()}
    out = stack_params([rec, rec])
    assert out["body_pose"].shape == (2, 21, 3) and out["betas"].shape == (2, 10)
