import numpy as np

from ehps.inference.tracking import IoUTracker, box_iou


def test_box_iou_matches_loop():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0, 100, (7, 2)), rng.uniform(5, 60, (7, 2))], 1)
    b = np.concatenate([rng.uniform(0, 100, (5, 2)), rng.uniform(5, 60, (5, 2))], 1)
    ours = box_iou(a, b)
    for i in range(len(a)):
        for j in range(len(b)):
            x1, y1 = max(a[i, 0], b[j, 0]), max(a[i, 1], b[j, 1])
            x2 = min(a[i, 0] + a[i, 2], b[j, 0] + b[j, 2])
            y2 = min(a[i, 1] + a[i, 3], b[j, 1] + b[j, 3])
            inter = max(0, x2 - x1) * max(0, y2 - y1)
            union = a[i, 2] * a[i, 3] + b[j, 2] * b[j, 3] - inter
            assert abs(ours[i, j] - inter / union) < 1e-12


def _simulate(n_people: int, n_frames: int, seed: int):
    """Pedestrians walking with constant velocities (some crossing), random detection misses
    and shuffled detection order. Returns per-frame (boxes, true ids)."""
    rng = np.random.default_rng(seed)
    start = np.stack([rng.uniform(0, 600, n_people), rng.uniform(100, 400, n_people)], 1)
    vel = np.stack([rng.uniform(-8, 8, n_people), rng.uniform(-2, 2, n_people)], 1)
    size = np.stack([rng.uniform(25, 45, n_people), rng.uniform(70, 120, n_people)], 1)
    frames = []
    for f in range(n_frames):
        centre = start + vel * f
        boxes, ids = [], []
        for p in range(n_people):
            if rng.uniform() < 0.08:  # missed detection
                continue
            jitter = rng.normal(0, 1.0, 4)
            c = centre[p] + jitter[:2]
            wh = size[p] * (1 + 0.02 * jitter[2:])
            boxes.append([c[0] - wh[0] / 2, c[1] - wh[1] / 2, wh[0], wh[1]])
            ids.append(p)
        order = rng.permutation(len(boxes))
        frames.append((np.asarray(boxes)[order], np.asarray(ids)[order]))
    return frames


def _id_switches(frames, tracker):
    assigned: dict[int, int] = {}
    switches = 0
    for f, (boxes, true_ids) in enumerate(frames):
        ids = tracker.update(boxes, f)
        assert len(set(ids.tolist())) == len(ids)  # one id per person in a frame
        for t, k in zip(true_ids, ids):
            if t in assigned and assigned[t] != k:
                switches += 1
            assigned[t] = int(k)
    return switches


def test_no_id_switches_on_synthetic_walkers():
    for seed in range(5):
        frames = _simulate(n_people=6, n_frames=100, seed=seed)
        assert _id_switches(frames, IoUTracker()) == 0, seed


def test_track_survives_short_gap_and_new_person_gets_new_id():
    tracker = IoUTracker(max_misses=5)
    box = np.array([[100.0, 100.0, 40.0, 100.0]])
    ids = [tracker.update(box + [3 * f, 0, 0, 0], f)[0] for f in range(5)]
    assert len(set(ids)) == 1
    # 3 frames missing, the person keeps walking at 3 px/frame
    for f in range(5, 8):
        tracker.update(np.zeros((0, 4)), f)
    again = tracker.update(box + [3 * 8, 0, 0, 0], 8)[0]
    assert again == ids[0]
    other = tracker.update(np.array([[500.0, 100.0, 40.0, 100.0]]), 9)[0]
    assert other != ids[0]
