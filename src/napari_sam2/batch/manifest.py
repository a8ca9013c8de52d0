"""The stacks of a batch: a manifest CSV, or a glob of inputs with their prompts found by name.

A manifest has one row per stack and these columns (a header line is required; any order):

``input,prompts[,boxes][,output][,axis][,hold][,channel][,roi][,seeds][,seed_frame]``

* ``input`` (required) and the files are relative to the manifest's folder; ``output``
  is relative to ``--out-dir`` (default: the input's name, as ``.tif``).
* ``prompts`` may be empty where the row (or the whole batch) has ``seeds``.
* ``hold`` is ``AXIS=INDEX`` (several separated by ``;``), ``channel`` one index or three
  separated by ``;``, ``roi`` ``Y0;X0;Y1;X1``.

A glob (``movies/*.tif``) takes ``X_prompts.csv`` (and ``X_boxes.csv`` if present) beside
each ``X.tif``.

Each row becomes the settings of ``napari-sam2 track`` for its stack
(:mod:`napari_sam2.settings`): a row's column wins over the option given to ``batch`` for
every stack. Problems of the whole manifest (a column missing
or unknown, two rows writing one output) stop the batch in one line; problems of one row (a
missing prompts file, an output that is its input) fail that row only.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import Sam2InputError

COLUMNS = ("input", "prompts", "boxes", "output", "axis", "hold", "channel", "roi", "seeds", "seed_frame")
FILE_COLUMNS = ("input", "prompts", "boxes", "seeds")
_STACK_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".npy", ".zarr")


@dataclass
class Row:
    """One stack: its files, its own options, and what is wrong with it (if anything)."""

    number: int  # 1-based, as in the report
    input: Path
    output: Path
    prompts: Path | None = None
    boxes: Path | None = None
    options: dict[str, str] = field(default_factory=dict)  # axis, hold, channel, roi, seeds, seed_frame
    problem: str | None = None  # a user error found before anything runs

    def settings(self, shared: dict):
        """The settings of ``napari-sam2 track`` for this stack (``shared``: the batch's options)."""
        from dataclasses import fields

        from ..settings import settings_for

        given = {**shared, "input": str(self.input), "out": str(self.output), "overwrite": True, "quiet": True}
        for name, path in (("prompts", self.prompts), ("boxes", self.boxes)):
            if path is not None:
                given[name] = str(path)
        if self.options.get("seeds"):
            given["seeds"] = self.options["seeds"]
        settings = settings_for(given)
        known = {f.name for f in fields(settings)}
        return settings.with_row({k: v for k, v in self.options.items() if k != "seeds" and k in known})


def read_stacks(source: str, out_dir: Path, *, seeds_given: bool = False) -> list[Row]:
    """The rows of a manifest CSV, or of a glob of inputs."""
    path = Path(source)
    if path.suffix.lower() == ".csv" and path.is_file():
        rows = _read_manifest(path, out_dir)
    elif path.suffix.lower() == ".csv":
        raise Sam2InputError(f"The manifest {source} does not exist.")
    else:
        rows = _from_glob(source, out_dir, seeds_given)
    _check_outputs_unique(rows)
    for row in rows:
        row.problem = row.problem or _row_problem(row, seeds_given)
    return rows


def _read_manifest(path: Path, out_dir: Path) -> list[Row]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Sam2InputError(f"Cannot read the manifest {path}: {exc}.") from None
    missing = [c for c in ("input", "prompts") if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        what = [f"missing column(s) {', '.join(missing)}"] if missing else []
        what += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        raise Sam2InputError(
            f"The manifest {path.name} has {' and '.join(what)}; its columns are {','.join(COLUMNS)} "
            "(input and prompts required)."
        )
    if not records:
        raise Sam2InputError(f"The manifest {path.name} has no rows.")
    base, rows = path.parent, []
    for number, record in enumerate(records, start=1):
        if None in record:  # more values than columns
            raise Sam2InputError(f"Row {number} of {path.name} has more values than the header has columns.")
        values = {k.strip(): (v or "").strip() for k, v in record.items()}
        if not values.get("input"):
            raise Sam2InputError(f"Row {number} of {path.name} has no input.")
        files = {k: (base / values[k] if values.get(k) else None) for k in FILE_COLUMNS}
        output = out_dir / values["output"] if values.get("output") else out_dir / _label_name(files["input"])
        options = {k: values[k] for k in ("axis", "hold", "channel", "roi", "seeds", "seed_frame") if values.get(k)}
        if options.get("seeds") and options["seeds"] not in ("threshold", "sam"):
            options["seeds"] = str(base / options["seeds"])
        rows.append(Row(number, files["input"], output, files["prompts"], files["boxes"], options))
    return rows


def expand_stacks(pattern: str) -> list[Path]:
    """The stacks a user named: the path itself when it exists (``well[B2].tif`` is a name,
    not a pattern), else the files the glob matches, in order, with the folders of the
    pattern that exist taken literally (``plate [1]/*.tif``)."""
    path = Path(pattern)
    if path.exists():
        return [path]
    parts = path.parts
    literal = next((k for k in range(len(parts) - 1, 0, -1) if Path(*parts[:k]).is_dir()), 0)
    escaped = os.path.join(glob.escape(str(Path(*parts[:literal]))), *parts[literal:]) if literal else pattern
    return sorted(Path(p) for p in glob.glob(escaped))


def _from_glob(pattern: str, out_dir: Path, seeds_given: bool) -> list[Row]:
    inputs = [p for p in expand_stacks(pattern) if _stem(p) != p.name]
    if not inputs:
        raise Sam2InputError(f"No stack matches {pattern!r} (TIFF, .npy or .zarr).")
    rows = []
    for number, given in enumerate(inputs, start=1):
        prompts = given.with_name(f"{_stem(given)}_prompts.csv")
        boxes = given.with_name(f"{_stem(given)}_boxes.csv")
        rows.append(
            Row(
                number,
                given,
                out_dir / _label_name(given),
                prompts if prompts.exists() or not seeds_given else None,
                boxes if boxes.exists() else None,
            )
        )
    return rows


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _STACK_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _label_name(path: Path) -> str:
    return f"{_stem(path)}.tif"


def _check_outputs_unique(rows: list[Row]) -> None:
    seen: dict[Path, int] = {}
    for row in rows:
        key = Path(os.path.abspath(row.output))
        if key in seen:
            raise Sam2InputError(
                f"Rows {seen[key]} and {row.number} both write {row.output}; give each stack its own output."
            )
        seen[key] = row.number


def _row_problem(row: Row, seeds_given: bool) -> str | None:
    if not row.input.exists():
        return f"The input {row.input} does not exist."
    if row.prompts is None and row.boxes is None and not (seeds_given or row.options.get("seeds")):
        return f"Row {row.number} has no prompts file (and no seeds): nothing to track."
    for path in (row.prompts, row.boxes):
        if path is not None and not path.exists():
            return f"The prompts file {path} does not exist."
    from ..core.outputs import same_or_inside, sidecar_path

    for target in (row.output, sidecar_path(row.output)):
        for given in (row.input, row.prompts, row.boxes):
            if given is not None and same_or_inside(target, given):
                return f"The output {target} is the input {given}; choose another --out-dir or output."
    return None


def fingerprint(settings, row: Row) -> str:
    """A hash of what makes this stack's labels: the settings and the files' contents or identity.

    Two runs with the same fingerprint write the same labels, so a finished one is skipped.
    """
    from ..core.prompt_files import prompt_settings_path

    digest = hashlib.sha256("\0".join(settings.fingerprint_parts()).encode())
    given = [row.prompts, row.boxes, *(Path(v) for k, v in row.options.items() if k == "seeds")]
    exported = [prompt_settings_path(p) for p in (row.prompts, row.boxes) if p is not None]  # napari's export
    for path in (row.input, *given, *exported):
        if path is None or not path.exists():
            continue
        if path.is_file() and path.stat().st_size < 2**20:  # prompts, small label files: their content
            digest.update(path.read_bytes())
        else:  # stacks: their identity (size and modification time), not a full read
            stat = path.stat()
            digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
