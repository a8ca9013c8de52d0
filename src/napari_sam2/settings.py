"""One settings type per job: what ``track`` is asked, in every shape it travels in.

* :class:`TrackSettings` tracks prompted objects through one stack; :class:`PopulationSettings`
  tracks a whole population from seeds. Both share :class:`StackSettings`: the stack, how the
  model sees it (axis, held indices, channels, contrast, region), the model and where the
  labels go.
* **Each option is declared once**, as a field with its default and help text
  (:func:`option`). The command line is built from the fields (:func:`add_arguments`) and
  parsed into a settings value (:func:`settings_from_namespace`); a batch manifest row, the
  settings a napari export carries and the sidecar's ``settings`` are read into the same
  value and written from it (:meth:`StackSettings.with_row`, :meth:`StackSettings.with_export`,
  :meth:`StackSettings.as_sidecar`). A new option is one field here.
* The core never sees these: jobs (:mod:`napari_sam2.jobs`) turn them into the core's
  keyword arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .core.errors import Sam2InputError
from .core.holes import DEFAULT_FILL_HOLE_AREA
from .core.models import DEFAULT_MODEL

#: Options a napari export carries (``PROMPTS_settings.json``), as field names.
EXPORTED = ("axis", "hold", "contrast_limits", "roi", "model", "model_config", "fill_hole_area", "boxes")
#: Manifest columns besides the files, as field names.
ROW_OPTIONS = ("axis", "hold", "channel", "roi", "seeds", "seed_frame")


def option(
    default: Any = None,
    help: str = "",
    *,
    flag: str | None = None,
    scope: str = "stack",
    labels: bool = True,
    **argparse_kwargs,
) -> Any:
    """A settings field and its command-line option: ``flag`` (default ``--name``), help text,
    and argparse's ``nargs``/``type``/``choices``/``metavar``/``action``. ``flag=""``: not an
    option (the value is set by the job). Lists and tuples default to empty tuples.

    ``scope``: ``"stack"`` (a batch gives it to every stack), ``"file"`` (one stack's own
    files: not a batch option) or ``"export"`` (a population's extra outputs).
    ``labels=False``: it does not change the labels (left out of the batch's fingerprint)."""
    metadata = {"help": help, "flag": flag, "argparse": argparse_kwargs, "scope": scope, "labels": labels}
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class StackSettings:
    """One stack, how the model sees it, the model, and the output (shared by every job)."""

    input: str = option("", "TIFF (ImageJ, OME), .npy or .zarr stack", flag="input", scope="file")
    out: str = option("", "output label TIFF; a .json sidecar is written beside it", required=True, scope="file")
    prompts: str | None = option(None, "CSV object_id,frame,y,x,positive (or napari's Points CSV export)", scope="file")
    boxes: str | None = option(None, "CSV object_id,frame,y0,x0,y1,x1", scope="file")
    model: str = option(
        DEFAULT_MODEL,
        "registry name, hub id, save_pretrained directory, Meta checkpoint (.pt) or random:NAME (default: sam2.1-tiny)",
    )
    model_config: str | None = option(
        None,
        "configuration of a .pt checkpoint (sam2.1-tiny, sam2-large, ...); default: inferred from its shapes",
        metavar="NAME",
    )
    axis: int | None = option(None, "axis to propagate (default: T or Z from the file, else 0)", type=int)
    hold: tuple[str, ...] = option((), "hold another axis at INDEX", action="append", metavar="AXIS=INDEX")
    channel: tuple[int, ...] = option((), "channel to use (once, or three times for RGB)", type=int, action="append")
    device: str = option("auto", "auto (cuda, then mps, then cpu), cpu, cuda or mps")
    contrast_limits: tuple[float, ...] | None = option(
        None, "intensity mapping", type=float, nargs=2, metavar=("LO", "HI")
    )
    roi: tuple[float, ...] | None = option(
        None, "track inside this box", type=float, nargs=4, metavar=("Y0", "X0", "Y1", "X1")
    )
    feature_cache: str | None = option(
        None,
        "keep encoded frames on disk (default folder: ~/.cache/napari-sam2/features) so a rerun on the same "
        "stack skips the image encoder; needs zarr",
        nargs="?",
        const="default",
        metavar="DIR",
    )
    precision: str = option(
        "auto",
        "bf16: auto uses it on CUDA, and on CPUs with native bf16 where it pays (see docs/benchmarks.md)",
        choices=("auto", "fp32", "bf16"),
    )
    threads: int | None = option(None, "torch CPU threads (default: NAPARI_SAM2_THREADS, else every core)", type=int)
    compile: bool = option(
        False,
        "torch.compile the image encoder and memory attention: a slow start, then faster frames (for long runs; "
        "see docs/benchmarks.md)",
        action="store_true",
    )
    objects_together: str = option(
        "auto",
        "track the objects of a frame as one batch (the same masks): auto does on a GPU, not on a CPU, where it "
        "was slower (see docs/benchmarks.md)",
        choices=("auto", "on", "off"),
        labels=False,
    )
    fill_hole_area: int = option(
        DEFAULT_FILL_HOLE_AREA,
        "fill holes up to this area in SAM 2's low-resolution masks, as Meta's predictor does (default 8; 0: off)",
        type=int,
        metavar="PIXELS",
    )
    review_top: int | None = option(
        None,
        "write the N likeliest mistakes to LABELS_review.csv beside the labels (default: all; 0: no review)",
        type=int,
        metavar="N",
        labels=False,
    )
    overwrite: bool = option(False, "replace an existing output", action="store_true", scope="file")
    quiet: bool = option(False, "no progress bar", action="store_true", scope="file")
    #: Set by a batch, not by users: the stack's settings fingerprint, recorded in the sidecar.
    settings_hash: str | None = option(None, flag="")
    command_line: str | None = option(None, flag="")
    #: The options the user gave (on the command line, or as a manifest column): those that
    #: a napari export beside the prompts does not replace.
    given: frozenset = option(frozenset(), flag="")

    # -- other shapes ---------------------------------------------------------------------------
    def with_export(self, exported: dict) -> StackSettings:
        """Options a napari export carries, for each option the user did not give."""
        taken = {k: _typed(self, k, v) for k, v in exported.items() if k in EXPORTED and k not in self.given}
        return replace(self, **{k: v for k, v in taken.items() if v not in (None, ())})

    def with_row(self, row: dict[str, str]) -> StackSettings:
        """A manifest row's own columns (strings) over these settings."""
        changes = {}
        for key, text in row.items():
            parts = [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]
            changes[key] = _typed(self, key, parts if _is_sequence(self, key) else text.strip())
        return replace(self, given=self.given | set(changes), **changes)

    def as_sidecar(self) -> dict:
        """The ``settings`` of the sidecar (its keys are those napari-sam2 has always written)."""
        from pathlib import Path

        population = isinstance(self, PopulationSettings)
        run = self if isinstance(self, TrackSettings) else None
        return {
            "direction": run.direction if run else None,
            "start": run.start if run else None,
            "frame_range": _plain(run.range) if run else None,
            "axis": self.axis,
            "hold": list(self.hold),
            "channel": list(self.channel) or None,
            "contrast_limits_arg": _plain(self.contrast_limits),
            "roi": _plain(self.roi),
            "device_arg": self.device,
            "input": str(Path(self.input).resolve()),
            "prompts_file": self.prompts,
            "boxes_file": self.boxes,
            "seeds": self.seeds if population else None,
            "seed_frame": self.seed_frame if population else None,
            "redetect_every": self.redetect_every if population else None,
            "redetect_frames": list(self.redetect_frames) if population else None,
            "divisions": self.divisions if population else None,
            "divide_file": self.divide if population else None,
        } | {name: _plain(getattr(self, name)) for name in _newer_sidecar_fields(self)}

    def fingerprint_parts(self) -> list[str]:
        """What decides this stack's labels, as text (the batch's resume fingerprint)."""
        skip = {"overwrite", "quiet", "settings_hash", "command_line", "given"}
        return [
            f"{f.name}={_plain(getattr(self, f.name))!r}"
            for f in fields(self)
            if f.name not in skip and f.metadata["labels"]
        ]


@dataclass(frozen=True)
class TrackSettings(StackSettings):
    """Track the prompted objects (``--prompts``, ``--boxes``) through the stack."""

    direction: str | None = option(None, "default: both", choices=("both", "forward", "backward"))
    start: int | None = option(None, "first frame of the passes (default: earliest prompted frame)", type=int)
    range: tuple[int, ...] | None = option(
        None, "track only these frames", type=int, nargs=2, metavar=("FIRST", "LAST")
    )

    @property
    def asks_for_a_run(self) -> bool:
        """A run other than the one napari ran was asked for (no replay of an export)."""
        return self.direction is not None or self.start is not None or self.range is not None


@dataclass(frozen=True)
class PopulationSettings(StackSettings):
    """Track a whole population from seeds (objects of ``--prompts``/``--boxes`` join it)."""

    seeds: str | None = option(
        None,
        "label image of the cells, 'threshold' (bright nuclei) or 'sam' (SAM 2 segments everything)",
        metavar="LABELS.tif|threshold|sam",
    )
    seed_frame: int = option(0, "frame the seeds are on (default 0)", type=int, metavar="F")
    redetect_every: int = option(0, "look for new cells every K frames (0: never)", type=int, metavar="K")
    redetect_frames: tuple[int, ...] = option((), "also look for new cells on these frames", type=int, nargs="+",
                                              metavar="F")  # fmt: skip
    divisions: str = option("on", "split dividing cells (default on)", choices=("on", "off"))
    divide: str | None = option(
        None,
        "divisions marked by hand: rows cell,frame,y1,x1,y2,x2 (the cell divides on frame into daughters at the "
        "two points)",
        metavar="DIVISIONS.csv",
        scope="export",
    )
    ctc: str | None = option(None, "also write a Cell Tracking Challenge result folder", metavar="DIR", scope="export")
    geff: str | None = option(
        None, "also write the lineage graph as GEFF (needs the geff package)", metavar="PATH", scope="export"
    )


#: Fields the sidecar has always recorded under keys of its own (``as_sidecar``), or
#: elsewhere (the model, the hole filling), or not at all (how the run was shown or where it
#: went). Every other option the user gave is written to the sidecar under its own name.
_SIDECAR_OLD = {
    "direction", "start", "range", "axis", "hold", "channel", "contrast_limits", "roi", "device", "input",
    "prompts", "boxes", "seeds", "seed_frame", "redetect_every", "redetect_frames", "divisions", "divide", "out",
    "model", "model_config", "feature_cache", "precision", "threads", "compile", "fill_hole_area", "overwrite",
    "quiet", "settings_hash", "command_line", "given", "ctc", "geff",
}  # fmt: skip


def _newer_sidecar_fields(settings) -> list[str]:
    """Options newer than the sidecar's own keys, written when they were given."""
    return [
        f.name
        for f in fields(settings)
        if f.name not in _SIDECAR_OLD and f.metadata.get("flag") != "" and f.name in settings.given
    ]


def options_of(cls, *scopes: str) -> tuple[str, ...]:
    """The command-line options of a settings type in ``scopes``, in declaration order."""
    return tuple(f.name for f in fields(cls) if f.metadata.get("flag") != "" and f.metadata["scope"] in scopes)


#: The population-only options, and those that only a prompts run takes.
_SHARED_FIELDS = {f.name for f in fields(StackSettings)}
POPULATION_ONLY = tuple(f.name for f in fields(PopulationSettings) if f.name not in _SHARED_FIELDS)
RUN_ONLY = ("direction", "start", "range")


# -- the command line -----------------------------------------------------------------------------
def add_arguments(parser, names: tuple[str, ...] | None = None, *, group=None) -> None:
    """Add the options of ``names`` (default: every option) to an argparse parser; every
    default is None, so that what was given can be told from what was not."""
    target = group or parser
    every = {f.name: f for f in (*fields(TrackSettings), *fields(PopulationSettings))}
    for name in names or every:
        meta = every[name].metadata
        flag = meta["flag"]
        if flag == "":
            continue
        kwargs = dict(meta["argparse"])
        if flag == "input":
            target.add_argument("input", help=meta["help"])
            continue
        kwargs.setdefault("default", None)
        if kwargs.get("action") == "store_true":
            kwargs["default"] = None
        target.add_argument(flag or f"--{name.replace('_', '-')}", dest=name, help=meta["help"], **kwargs)


def given_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """The settings fields given on the command line (not None)."""
    every = {f.name for f in (*fields(TrackSettings), *fields(PopulationSettings))}
    return {k: v for k, v in vars(namespace).items() if k in every and v is not None}


def settings_for(given: dict[str, Any]) -> TrackSettings | PopulationSettings:
    """The job the options ask for: a population with ``seeds``, else tracking prompts.

    Options of the other job are refused in one line, before anything is read."""
    if given.get("seeds"):
        asked = [f"--{k}" for k in RUN_ONLY if k in given]
        if asked:
            raise Sam2InputError(
                f"A population run goes forward from --seed-frame to the end; leave out {', '.join(asked)}."
            )
        return PopulationSettings(**_converted(PopulationSettings, given), given=frozenset(given))
    for name in ("ctc", "geff", "divide"):
        if given.get(name):
            raise Sam2InputError(f"--{name} exports a population: give --seeds too.")
    options = {k: v for k, v in given.items() if k not in POPULATION_ONLY}
    return TrackSettings(**_converted(TrackSettings, options), given=frozenset(options))


def command_line() -> str:
    return "napari-sam2 " + " ".join(sys.argv[1:])


# -- conversions ----------------------------------------------------------------------------------
def _field(cls_or_value, name: str) -> dataclasses.Field:
    return {f.name: f for f in fields(cls_or_value)}[name]


def _is_sequence(settings, key: str) -> bool:
    default = _field(settings, key).default
    return isinstance(default, tuple) or key in ("roi", "contrast_limits", "range")


def _typed(settings, key: str, value):
    """``value`` (from JSON, a CSV column or argparse) as the field ``key`` holds it."""
    if value is None:
        return None
    kind = _field(settings, key).metadata["argparse"].get("type", str)
    try:
        if isinstance(value, (list, tuple)):
            return tuple(kind(v) for v in value)
        return kind(value)
    except (TypeError, ValueError):
        raise Sam2InputError(f"{key.replace('_', '-')}: {value!r} is not what it takes ({kind.__name__}).") from None


def _converted(cls, given: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if k in names}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
