"""Smoke test with the real sam2.1-tiny weights, when they are in the local hub cache.

Pre-download with ``napari-sam2 download sam2.1-tiny``. Without network and cache, this
test skips with the reason; it never downloads.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.sample import make_zstack


def _cached_tiny():
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download("facebook/sam2.1-hiera-tiny", local_files_only=True)
    except Exception:
        return None


@pytest.mark.slow
@pytest.mark.skipif(
    _cached_tiny() is None, reason="sam2.1-tiny is not in the local hub cache (napari-sam2 download sam2.1-tiny)"
)
def test_real_sam21_tiny_segments_a_nucleus():
    from napari_sam2.core import FrameSource, ModelLoader, TrackingSession

    stack, prompts = make_zstack(5)
    loaded = ModelLoader().load("sam2.1-tiny", device="auto", progress=False)
    assert loaded.source == "hub" and len(loaded.revision) == 40
    session = TrackingSession(loaded, FrameSource(stack))
    p = prompts[0]
    result = session.add_points(1, 2, [(p.y, p.x)])
    mask = result.masks[0]
    assert mask[int(p.y), int(p.x)], "the clicked pixel should be inside the nucleus mask"
    assert 0.005 < mask.mean() < 0.3
    frames = {r.frame: r.masks[0] for r in session.propagate("both")}
    assert sorted(frames) == list(range(5)) and np.mean([m.mean() for m in frames.values()]) > 0.002


@pytest.mark.slow
@pytest.mark.skipif(
    _cached_tiny() is None, reason="sam2.1-tiny is not in the local hub cache (napari-sam2 download sam2.1-tiny)"
)
def test_real_sam21_tiny_tracks_a_dividing_population(tmp_path):
    """The whole population path with real weights: threshold seeds, re-detection, ends and
    divisions, CTC export scored by py-ctcmetrics against the known lineage.

    Floors revisited for the division rules of the division issue (waist split, sister within
    half a diameter, re-detection of a cell that shrinks, cells tracked back to the frame they
    appear): on masks from the ground truth they give TRA, BC(0) and CT 1.0, so what is left
    here is SAM 2's own mask error. The scene has two divisions, so BC(0) >= 0.5 asks that at
    least one is found on its frame. Still set without real weights (none can be downloaded
    where this was written): the first run with weights prints the scores; raise them then."""
    import shutil

    from ctc_metrics.scripts.evaluate import evaluate_sequence

    from napari_sam2.core import FrameSource, ModelLoader, TrackingSession
    from napari_sam2.core.ctc import write_ctc
    from napari_sam2.core.labels import merge_result
    from napari_sam2.core.population import PopulationOptions, PopulationTracker
    from napari_sam2.core.seeders import threshold_detector, threshold_seeds
    from tests.helpers import known_population, render_fluorescence

    truth_labels, truth = known_population()
    stack = render_fluorescence(truth_labels)
    source = FrameSource(stack)
    session = TrackingSession(ModelLoader().load("sam2.1-tiny", device="auto", progress=False), source)
    tracker = PopulationTracker(session, detect=threshold_detector(source), options=PopulationOptions(redetect_every=2))
    tracker.add_seeds(0, threshold_seeds(stack[0].astype(np.float32)))
    labels = np.zeros_like(truth_labels)
    for result in tracker.run(0):
        merge_result(labels[result.frame], result)
    gt = tmp_path / "01_GT" / "TRA"
    gt.mkdir(parents=True)
    for mask in write_ctc(tmp_path / "truth", truth_labels, truth).iterdir():
        shutil.copy(mask, gt / mask.name.replace("mask", "man_track").replace("res_track", "man_track"))
    ours = write_ctc(tmp_path / "01_RES", labels, tracker.lineage)
    metrics = ["Valid", "TRA", "DET", "BC", "CT"]
    scores = evaluate_sequence(str(ours), str(tmp_path / "01_GT"), metrics=metrics, threads=1)
    print("real sam2.1-tiny population scores:", scores)
    assert scores["Valid"] == 1 and scores["DET"] > 0.8 and scores["TRA"] > 0.9
    assert scores["BC(0)"] >= 0.5 and scores["CT"] > 0.5
