"""Division scenes for the linking rules: daughters born touching, a few pixels apart, or well
apart, and cells that only look like they divide.

A linking-rules harness, not a tracking test: SAM 2's propagation is replaced by an oracle
that gives each tracked object the ground-truth cells its previous mask overlaps, with one
of two behaviours seen in SAM 2 at a division: the mask **covers** both daughters (every
cell it overlaps by 30 % of that cell), or **follows** one (the cell it overlaps most). The
detector (re-detection every K frames) is the ground truth itself. What runs for real is
:class:`~napari_sam2.core.population.PopulationTracker` and its rules, and the CTC export,
scored against the truth by py-ctcmetrics and by traccuracy (two independent evaluators).

Each scene (160 x 160, 30 frames): two cells that divide (frames 10 and 18; the mother
grows and rounds up first; the daughters are born ``gap`` pixels apart, ``gap < 0`` meaning
joined by a waist of that overlap), a cell that elongates to 2.4 times its width without
dividing, one cut in two by a one-pixel line of noise on one frame, a cell entering from the
border, and two still cells.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

SIZE, FRAMES = 160, 30


def _disc(yy, xx, cy, cx, ry, rx=None, angle=0.0):
    rx = ry if rx is None else rx
    c, s = np.cos(angle), np.sin(angle)
    u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1


def scene(gap: float):
    """Ground-truth labels ``(T, Y, X)`` and parents; see the module docstring."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    gt = np.zeros((FRAMES, SIZE, SIZE), np.uint16)
    parents: dict[int, int] = {}
    for t in range(FRAMES):
        plane = gt[t]
        for mother, (cy, cx), born, kids in ((1, (45, 45), 10, (11, 12)), (2, (45, 115), 18, (21, 22))):
            if t < born:
                grow = 1 + 0.3 * max(0.0, 1 - (born - t) / 6)  # rounds up and grows before dividing
                plane[_disc(yy, xx, cy, cx, 8 * grow)] = mother
            else:
                r = 7.0
                half = r + gap / 2 + 0.7 * (t - born)  # the daughters drift apart
                plane[_disc(yy, xx, cy, cx - half, r) & (plane == 0)] = kids[0]
                plane[_disc(yy, xx, cy, cx + half, r) & (plane == 0)] = kids[1]
                parents.update({kids[0]: mother, kids[1]: mother})
        stretch = 1 + 1.4 * min(1.0, max(0.0, (t - 5) / 15))  # elongates, never divides
        plane[_disc(yy, xx, 110, 45, 7, 7 * stretch, 0.3) & (plane == 0)] = 3
        cut = _disc(yy, xx, 110, 115, 9)
        if t == 14:
            cut &= np.abs(xx - 115) > 0  # cut in two by one line of noise, on one frame
        plane[cut & (plane == 0)] = 4
        if t >= 8:  # enters from the left border
            plane[_disc(yy, xx, 80, -6 + 1.5 * (t - 8), 8) & (plane == 0)] = 5
        plane[_disc(yy, xx, 140, 20, 7) & (plane == 0)] = 6
        plane[_disc(yy, xx, 145, 140, 7) & (plane == 0)] = 7
    parents.update({c: 0 for c in (1, 2, 3, 4, 5, 6, 7)})
    return gt, parents


class _Source:
    """What the population tracker asks of a frame source: the frames and the whole-frame ROI."""

    def __init__(self, truth: np.ndarray) -> None:
        from napari_sam2.core.frames import Roi

        self.frames, self.full_frame_shape = len(truth), tuple(truth.shape[1:])
        self.roi = Roi(0, 0, *self.full_frame_shape)

    def __len__(self) -> int:
        return self.frames


class OracleSession:
    """SAM 2's propagation replaced by the truth (see the module docstring). Each frame's
    mask comes from the object's mask on the nearest frame already tracked on the side it
    comes from (the frame before going forward, the frame after going backward)."""

    def __init__(self, truth: np.ndarray, behaviour: str = "covers") -> None:
        self.truth, self.behaviour = truth, behaviour
        self.masks: dict[int, dict[int, np.ndarray]] = {}  # object -> frame -> mask
        self.prompted: dict[int, dict[int, bool]] = {}
        self.source = _Source(truth)

    object_ids = property(lambda self: list(self.masks))

    def prompts(self):
        return self.prompted

    def add_mask(self, obj, frame, mask):
        from napari_sam2.core.session import FrameResult

        self.masks[obj] = {frame: np.asarray(mask, bool)}
        self.prompted[obj] = {frame: True}
        return FrameResult(frame, [obj], self.masks[obj][frame][None], np.array([1.0], np.float32), self.source.roi)

    def limit_object(self, obj, *, first=None, last=None):
        pass

    def _mask(self, obj: int, frame: int, step: int) -> np.ndarray:
        known = self.masks[obj]
        sources = [f for f in known if (f - frame) * step < 0]
        previous = known[max(sources, key=lambda f: -abs(f - frame))] if sources else known[min(known)]
        plane = self.truth[frame]
        under = plane[previous]
        ids, counts = np.unique(under[under > 0], return_counts=True)
        if self.behaviour == "follows" and len(ids):
            chosen = [ids[np.argmax(counts)]]
        else:
            chosen = [i for i, n in zip(ids, counts) if n >= 0.3 * (plane == i).sum()]
        mask = np.isin(plane, chosen) if chosen else np.zeros(plane.shape, bool)
        if mask.any():
            known[frame] = mask
        return mask

    def propagate(self, direction, *, objects, start, frame_range):
        from napari_sam2.core.session import FrameResult

        step = -1 if direction == "backward" else 1
        stop = frame_range[0] - 1 if step < 0 else frame_range[1] + 1
        for frame in range(start, stop, step):
            masks = [self._mask(obj, frame, step) for obj in objects]
            scores = np.array([1.0 if m.any() else -1.0 for m in masks], np.float32)
            yield FrameResult(frame, list(objects), np.array(masks), scores, self.source.roi)


def run_on_oracle(gt: np.ndarray, options, behaviour: str = "covers"):
    """The population run on the oracle's masks, the truth as the detector on every frame it asks."""
    from napari_sam2.core.labels import merge_result
    from napari_sam2.core.population import PopulationTracker
    from napari_sam2.core.seeders import seeds_from_labels

    tracker = PopulationTracker(OracleSession(gt, behaviour), detect=lambda frame: gt[frame], options=options)
    labels = np.zeros_like(gt)
    tracker.add_seeds(0, seeds_from_labels(gt[0]))
    for result in tracker.run(0):
        merge_result(labels[result.frame], result)
    return tracker, labels


def run(gt: np.ndarray, behaviour: str, redetect_every: int):
    from napari_sam2.core.population import PopulationOptions

    return run_on_oracle(gt, PopulationOptions(redetect_every=redetect_every), behaviour)


def ground_truth_folder(folder: Path, gt: np.ndarray, truth) -> None:
    """``folder/01_GT/TRA``: the truth (labels and its Lineage) in the CTC's ground-truth layout."""
    from napari_sam2.core.ctc import write_ctc

    made = write_ctc(folder / "truth", gt, truth)
    (folder / "01_GT" / "TRA").mkdir(parents=True)
    for mask in made.glob("mask*.tif"):
        shutil.copy(mask, folder / "01_GT" / "TRA" / mask.name.replace("mask", "man_track"))
    shutil.copy(made / "res_track.txt", folder / "01_GT" / "TRA" / "man_track.txt")


def score(folder: Path, gt: np.ndarray, parents: dict[int, int], behaviour: str, redetect_every: int) -> dict:
    """BC(0), BC(1), TRA, CT of one run by py-ctcmetrics, and its false divisions (mothers
    that do not divide); under ``traccuracy``, the same run's TRA, BC(0) and BC(1) by
    traccuracy (the second evaluator), where it is installed."""
    from ctc_metrics.scripts.evaluate import evaluate_sequence

    from napari_sam2.core.ctc import write_ctc
    from napari_sam2.core.lineage import Lineage

    truth = Lineage()
    for cell, parent in sorted(parents.items()):
        frames = np.flatnonzero((gt == cell).any(axis=(1, 2)))
        truth.start(cell, int(frames[0]), parent)
        truth.end(cell, int(frames[-1]))
    ground_truth_folder(folder, gt, truth)
    tracker, labels = run(gt, behaviour, redetect_every)
    write_ctc(folder / "01_RES", labels, tracker.lineage)
    found = evaluate_sequence(str(folder / "01_RES"), str(folder / "01_GT"), metrics=["TRA", "BC", "CT"], threads=1)
    dividing = {p for p in parents.values() if p}
    to_truth = {t: int(np.bincount(gt[labels == t]).argmax()) for t in tracker.lineage.tracks if (labels == t).any()}
    mothers = {t.parent for t in tracker.lineage.tracks.values() if t.parent}
    false = sorted(to_truth.get(m, 0) for m in mothers if to_truth.get(m, 0) not in dividing)
    figures = {k: round(float(found[k]), 3) for k in ("BC(0)", "BC(1)", "TRA", "CT")} | {"false_divisions": false}
    second = traccuracy_scores(folder / "01_GT" / "TRA", folder / "01_RES")
    return figures if second is None else figures | {"traccuracy": second}


def traccuracy_scores(truth: Path, result: Path) -> dict | None:
    """traccuracy's TRA and branching correctness (BC(0), BC(1)) of a CTC result folder
    against a CTC ground-truth folder; None where traccuracy is not installed."""
    import contextlib
    import importlib.util
    import io

    if importlib.util.find_spec("traccuracy") is None:
        return None
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CTCMetrics, DivisionMetrics

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):  # progress bars
        gt = load_ctc_data(str(truth), str(truth / "man_track.txt"), name="truth")
        res = load_ctc_data(str(result), str(result / "res_track.txt"), name="result")
        metrics = [CTCMetrics(), DivisionMetrics(max_frame_buffer=1)]
        found, _ = run_metrics(gt_data=gt, pred_data=res, matcher=CTCMatcher(), metrics=metrics)
    by_name = {r["metric"]["name"]: r["results"] for r in found}
    division = by_name["DivisionMetrics"]
    return {
        "TRA": round(float(by_name["CTCMetrics"]["TRA"]), 3),
        "BC(0)": round(float(division["Frame Buffer 0"]["Mitotic Branching Correctness"]), 3),
        "BC(1)": round(float(division["Frame Buffer 1"]["Mitotic Branching Correctness"]), 3),
    }
