"""Humanoid (Mixamo-style) joint names, so that Unity's and Unreal's humanoid retargeting map the
skeleton without manual work (``--humanoid``).

The names are Mixamo's without the ``mixamorig:`` prefix (``Hips``, ``Spine``, ``LeftUpLeg``,
``LeftHandIndex1``...), which Unity's Humanoid avatar auto-mapping and Unreal's IK retargeter
recognise. Joints with no humanoid counterpart keep their body-model name (SMPL-X: none; Anny:
the twist bones ``upperarm02``/``lowerarm02``/``upperleg02``/``lowerleg02``, ``pelvis.L/R``,
``spine04``/``spine01``, ``neck02``/``neck03``, ``shoulder01``, the metacarpals and the toes
beyond the big toe's first segment). The tables are :data:`SMPLX_HUMANOID` and
:data:`ANNY_HUMANOID`; ``docs/animation.md`` prints them.
"""

from __future__ import annotations

from ehps.export.anim.rig import Rig

__all__ = ["SMPLX_HUMANOID", "ANNY_HUMANOID", "humanoid_names"]

_SIDES = (("left", "Left", "L"), ("right", "Right", "R"))
# SMPL-X finger order index, middle, pinky, ring, thumb; Anny finger1..5 = thumb..pinky.
_FINGERS = (("index", "Index", 2), ("middle", "Middle", 3), ("pinky", "Pinky", 5),
            ("ring", "Ring", 4), ("thumb", "Thumb", 1))


def _smplx_table() -> dict[str, str]:
    t = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2",
         "neck": "Neck", "head": "Head", "jaw": "Jaw", "left_eye_smplhf": "LeftEye",
         "right_eye_smplhf": "RightEye"}  # fmt: skip
    for side, cap, _ in _SIDES:
        t.update({f"{side}_hip": f"{cap}UpLeg", f"{side}_knee": f"{cap}Leg",
                  f"{side}_ankle": f"{cap}Foot", f"{side}_foot": f"{cap}ToeBase",
                  f"{side}_collar": f"{cap}Shoulder", f"{side}_shoulder": f"{cap}Arm",
                  f"{side}_elbow": f"{cap}ForeArm", f"{side}_wrist": f"{cap}Hand"})
        for finger, fcap, _ in _FINGERS:
            for k in (1, 2, 3):
                t[f"{side}_{finger}{k}"] = f"{cap}Hand{fcap}{k}"
    return t


def _anny_table() -> dict[str, str]:
    t = {"root": "Hips", "spine05": "Spine", "spine03": "Spine1", "spine02": "Spine2",
         "neck01": "Neck", "head": "Head", "eye.L": "LeftEye", "eye.R": "RightEye"}
    for _, cap, s in _SIDES:
        t.update({f"upperleg01.{s}": f"{cap}UpLeg", f"lowerleg01.{s}": f"{cap}Leg",
                  f"foot.{s}": f"{cap}Foot", f"toe1-1.{s}": f"{cap}ToeBase",
                  f"clavicle.{s}": f"{cap}Shoulder", f"upperarm01.{s}": f"{cap}Arm",
                  f"lowerarm01.{s}": f"{cap}ForeArm", f"wrist.{s}": f"{cap}Hand"})
        for _, fcap, k in _FINGERS:
            for seg in (1, 2, 3):
                t[f"finger{k}-{seg}.{s}"] = f"{cap}Hand{fcap}{seg}"
    return t


#: SMPL-X skeleton joint -> humanoid name.
SMPLX_HUMANOID: dict[str, str] = _smplx_table()
#: Anny bone -> humanoid name (unlisted bones keep their names).
ANNY_HUMANOID: dict[str, str] = _anny_table()


def humanoid_names(rig: Rig) -> tuple[str, ...]:
    """The rig's joint names mapped to humanoid names (see the module docstring)."""
    table = SMPLX_HUMANOID if rig.body_model == "smplx" else ANNY_HUMANOID
    names = tuple(table.get(n, n) for n in rig.joint_names)
    if len(set(names)) != len(names):  # pragma: no cover - guarded by the tests
        raise ValueError("humanoid names collide")
    return names
