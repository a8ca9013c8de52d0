"""The jobs behind the command line and each batch task: one stack, from its settings.

* :func:`run_job` runs the job a settings value asks for: :func:`~.track.run_track` for
  :class:`~napari_sam2.settings.TrackSettings` (prompted objects; a napari export is replayed,
  :mod:`.replay`), :func:`~.population.run_population` for
  :class:`~napari_sam2.settings.PopulationSettings` (a whole population from seeds).
* :mod:`.stack` is what both do with a stack: open it as the settings say, open a session,
  and write the labels so that nothing is lost however the run ends.
* Once the labels are written, :func:`~.review.review_after_run` writes the review queue
  beside them (``LABELS_review.csv``); :mod:`.review` is also ``napari-sam2 review``.
* :class:`ExitStatus` is the exit status of ``track`` and ``batch``.

Torch and the model are imported only when a job runs.
"""

from __future__ import annotations

from collections.abc import Callable

from .outcome import ExitStatus, TrackOutcome

__all__ = ["ExitStatus", "TrackOutcome", "run_job"]


def run_job(settings, *, loader=None, stop: Callable[[], bool] | None = None) -> TrackOutcome:
    """Run the job ``settings`` asks for on its stack (see the module docstring)."""
    from ..settings import PopulationSettings

    if isinstance(settings, PopulationSettings):
        from .population import run_population

        outcome = run_population(settings, loader=loader, stop=stop)
    else:
        from .track import run_track

        outcome = run_track(settings, loader=loader, stop=stop)
    if outcome.frames_done:
        from dataclasses import replace

        from .review import review_after_run

        outcome = replace(outcome, review_items=review_after_run(settings.out, settings.review_top))
    return outcome
