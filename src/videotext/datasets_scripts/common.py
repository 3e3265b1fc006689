"""Schema and helpers shared by every dataset builder.

Every builder returns a `datasets.DatasetDict` whose splits (`train`, `validation`, `test`, those the source has)
hold one row per clip with the columns of `BASE_COLUMNS` plus the method columns the source provides
(`OPTIONAL_COLUMNS`). Videos stay files: `video_path` is an absolute path decoded later with decord.

Data-loss policy (the same for every builder):

* a clip whose annotation points to a video that is not on disk is **skipped and counted**; the count and the first
  ids are logged ("skipped N clips with no video file: first ids ...") and stored in the build report that every
  split carries in `dataset.info.description` (read it back with `get_build_report`). `strict=True` raises
  `DatasetFormatError` instead;
* an empty (or whitespace-only) caption string is dropped and counted the same way; a clip left with no caption is
  skipped and counted. `strict=True` raises `DatasetFormatError` naming the file and the id instead;
* a file or field that cannot be read always raises `DatasetFormatError` naming the file and the field.

`datasets` is imported lazily so that `import videotext.datasets_scripts` stays instant.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import logging
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("videotext.datasets")

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".avi", ".mkv")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validate": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
BASE_COLUMNS: tuple[str, ...] = ("video_id", "video_path", "start", "end", "captions")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "nouns",
    "verbs",
    "keywords",
    "description",
    "intention",
    "effect",
    "attribute",
    "data_source",
    "expert_features_path",
)
REPORT_PREFIX = "videotext build report: "
_MAX_REPORTED_IDS = 10


class DatasetFormatError(ValueError):
    """A raw dataset file or field could not be read. The message names the file and the field."""


def format_error(file: str | os.PathLike, message: str) -> DatasetFormatError:
    """`DatasetFormatError("<file name>: <message>")`, e.g. `train_val_videodatainfo.json: sentence 17 has no "caption"`."""
    return DatasetFormatError(f"{Path(file).name}: {message}")


def normalize_split(name: str, *, file: str | os.PathLike = "split", field_name: str = "split") -> str:
    """Map `val`/`validate`/`dev`/... to the schema's `train` / `validation` / `test`."""
    key = str(name).strip().lower()
    if key not in SPLIT_ALIASES:
        raise format_error(
            file, f'{field_name} "{name}" is not a known split (expected one of {sorted(SPLIT_ALIASES)})'
        )
    return SPLIT_ALIASES[key]


# ----------------------------------------------------------------------------------------------------------- schema


def make_features(extra_columns: Iterable[str] = ()):
    """Explicit `datasets.Features` for the base columns plus the given method columns (schema order)."""
    import datasets

    string = datasets.Value("string")
    types = {
        "video_id": string,
        "video_path": string,
        "start": datasets.Value("float64"),
        "end": datasets.Value("float64"),
        "captions": datasets.List(string),
        "nouns": datasets.List(datasets.List(string)),
        "verbs": datasets.List(datasets.List(string)),
        "keywords": datasets.List(string),
        "description": string,
        "intention": datasets.List(string),
        "effect": datasets.List(string),
        "attribute": datasets.List(string),
        "data_source": string,
        "expert_features_path": string,
    }
    extra = set(extra_columns)
    unknown = extra - set(OPTIONAL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown dataset columns {sorted(unknown)}; known: {list(OPTIONAL_COLUMNS)}")
    names = list(BASE_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in extra]
    return datasets.Features({name: types[name] for name in names})


# ----------------------------------------------------------------------------------------------------------- report


@dataclass
class BuildReport:
    """What a build kept, skipped and why. Stored as JSON in every split's `info.description`."""

    builder: str
    protocol: str | None = None
    strict: bool = False
    skipped: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # reason -> split -> ids
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, split: str, clip_id: str, *, file: str | os.PathLike | None = None) -> None:
        """Record a skipped clip (or raise in strict mode)."""
        if self.strict:
            where = f"{Path(file).name}: " if file is not None else ""
            raise DatasetFormatError(f"{where}{clip_id}: {reason} (strict=True)")
        self.skipped.setdefault(reason, {}).setdefault(split, []).append(str(clip_id))

    def note(self, message: str, *, warn: bool = False) -> None:
        """Record a fact about the build (kept in the report); logged at WARNING when `warn`, else INFO."""
        self.notes.append(message)
        logger.log(logging.WARNING if warn else logging.INFO, "%s: %s", self.builder, message)

    def count(self, reason: str | None = None) -> int:
        reasons = [reason] if reason else list(self.skipped)
        return sum(len(ids) for r in reasons for ids in self.skipped.get(r, {}).values())

    def summary_lines(self) -> list[str]:
        lines = []
        for reason, per_split in self.skipped.items():
            ids = [i for split_ids in per_split.values() for i in split_ids]
            if not ids:
                continue
            by_split = ", ".join(f"{s}: {len(v)}" for s, v in per_split.items())
            lines.append(
                f"skipped {len(ids)} clips with {reason} ({by_split}): first ids {', '.join(ids[:_MAX_REPORTED_IDS])}"
            )
        return lines + list(self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "builder": self.builder,
            "protocol": self.protocol,
            "skipped_counts": {r: {s: len(v) for s, v in ps.items()} for r, ps in self.skipped.items()},
            "skipped_first_ids": {
                r: [i for v in ps.values() for i in v][:_MAX_REPORTED_IDS] for r, ps in self.skipped.items()
            },
            "num_skipped": self.count(),
            "notes": list(self.notes),
        }

    def log(self) -> None:
        for line in self.summary_lines():
            if line not in self.notes:  # notes were logged when they were added
                logger.warning("%s: %s", self.builder, line)


def get_build_report(dataset) -> dict[str, Any] | None:
    """The build report stored by a builder in `info.description` (a `Dataset` or any split of a `DatasetDict`)."""
    if hasattr(dataset, "values") and not hasattr(dataset, "info"):
        dataset = next(iter(dataset.values()), None)
        if dataset is None:
            return None
    text = getattr(getattr(dataset, "info", None), "description", None) or ""
    if not text.startswith(REPORT_PREFIX):
        return None
    return json.loads(text[len(REPORT_PREFIX) :])


def format_report(report: dict[str, Any]) -> list[str]:
    """Human lines of a stored build report (`get_build_report`): skip counts per reason, then the notes."""
    lines = []
    for reason, per_split in (report.get("skipped_counts") or {}).items():
        total = sum(per_split.values())
        by_split = ", ".join(f"{s}: {n}" for s, n in per_split.items())
        first = ", ".join(report.get("skipped_first_ids", {}).get(reason, []))
        lines.append(f"skipped {total} clips with {reason} ({by_split}): first ids {first}")
    return lines + list(report.get("notes") or [])


def assemble(
    splits: dict[str, list[dict[str, Any]]],
    report: BuildReport,
    *,
    extra_columns: Iterable[str] = (),
):
    """Rows per split -> `datasets.DatasetDict` with the explicit schema; logs the report and stores it in each split."""
    import datasets

    report.log()
    features = make_features(extra_columns)
    description = REPORT_PREFIX + json.dumps(report.to_dict())
    out = {}
    for split in SPLITS:
        if split not in splits:
            continue
        rows = [{name: row.get(name) for name in features} for row in splits[split]]
        info = datasets.DatasetInfo(description=description, features=features)
        if rows:
            out[split] = datasets.Dataset.from_list(rows, features=features, info=info, split=split)
        else:  # kept (empty) so that the report's skip counts explain it
            empty = {name: [] for name in features}
            out[split] = datasets.Dataset.from_dict(empty, features=features, info=info, split=split)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"internal error: unknown split names {sorted(unknown)}")
    return datasets.DatasetDict(out)


# ------------------------------------------------------------------------------------------------------ captions


def clean_captions(
    captions: Sequence[Any],
    clip_id: str,
    split: str,
    report: BuildReport,
    *,
    file: str | os.PathLike,
    field_name: str = "caption",
) -> list[str]:
    """Strip captions; drop (count) empty ones, or raise in strict mode. Non-strings are a format error."""
    out = []
    for i, cap in enumerate(captions):
        if cap is None:
            cap = ""
        if not isinstance(cap, str):
            raise format_error(file, f"{clip_id}: {field_name} {i} is {type(cap).__name__}, expected a string")
        cap = cap.strip()
        if not cap:
            report.skip(f'an empty "{field_name}"', split, f"{clip_id}[{i}]", file=file)
            continue
        out.append(cap)
    return out


def add_row(
    rows: list[dict[str, Any]],
    row: dict[str, Any],
    split: str,
    report: BuildReport,
    *,
    file: str | os.PathLike,
) -> bool:
    """Append a row unless it lost all its captions (then count it as skipped)."""
    if not row.get("captions"):
        report.skip("no caption left", split, row["video_id"], file=file)
        return False
    rows.append(row)
    return True


# -------------------------------------------------------------------------------------------------------- videos


class VideoFinder:
    """Find a media file by stem in a list of folders. Each folder is listed once (cached), so looking up
    thousands of clips costs one `os.scandir` per folder rather than one `stat` per extension."""

    def __init__(self, extensions: Sequence[str] = VIDEO_EXTENSIONS, allow_no_extension: bool = False):
        self.extensions = tuple(e.lower() for e in extensions)
        self.allow_no_extension = allow_no_extension
        self._cache: dict[str, dict[str, str]] = {}

    def _listing(self, folder: str) -> dict[str, str]:
        folder = os.path.abspath(folder)
        if folder not in self._cache:
            found: dict[str, tuple[int, str]] = {}
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            for entry in entries:
                stem, ext = os.path.splitext(entry.name)
                ext = ext.lower()
                if ext in self.extensions:
                    rank = self.extensions.index(ext)
                elif self.allow_no_extension and ext == "":
                    rank = len(self.extensions)
                else:
                    continue
                if not entry.is_file():
                    continue
                if stem not in found or rank < found[stem][0]:
                    found[stem] = (rank, entry.path)
            self._cache[folder] = {stem: os.path.abspath(path) for stem, (_, path) in found.items()}
        return self._cache[folder]

    def find(self, stem: str, folders: Iterable[str | os.PathLike]) -> str | None:
        """Absolute path of `<folder>/<stem><ext>` for the first folder that has it (extension order preferred)."""
        for folder in folders:
            path = self._listing(os.fspath(folder)).get(stem)
            if path is not None:
                return path
        return None


def find_video_file(stem: str, folders: Iterable[str | os.PathLike], extensions=VIDEO_EXTENSIONS) -> str | None:
    """One-off lookup of `<folder>/<stem>.{mp4,webm,avi,mkv}`; returns an absolute path or None."""
    for folder in folders:
        for ext in extensions:
            path = Path(folder) / f"{stem}{ext}"
            if path.is_file():
                return str(path.resolve())
    return None


def progress(iterable: Iterable, total: int, desc: str) -> Iterator:
    """tqdm over many items (>= 500); a plain iterator otherwise."""
    if total < 500:
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit="clip")


def attach_videos(
    splits: dict[str, list[dict[str, Any]]],
    report: BuildReport,
    locate,
    *,
    file: str | os.PathLike,
    desc: str = "checking video files",
) -> dict[str, list[dict[str, Any]]]:
    """Fill `video_path` with `locate(row) -> path | None`; rows without a file, or with an empty one, are skipped
    and counted (files are not decoded here: training skips undecodable ones per `data.on_bad_video`)."""
    total = sum(len(rows) for rows in splits.values())
    out: dict[str, list[dict[str, Any]]] = {}
    pairs = ((split, row) for split, rows in splits.items() for row in rows)
    for split in splits:
        out[split] = []
    for split, row in progress(pairs, total, desc):
        path = locate(row)
        if path is None:
            report.skip("no video file", split, row["video_id"], file=file)
            continue
        if os.path.getsize(path) == 0:
            report.skip("empty video file (0 bytes)", split, row["video_id"], file=file)
            continue
        row["video_path"] = os.path.abspath(path)
        out[split].append(row)
    return out


def candidate_dirs(data_dir: str | os.PathLike, video_dir: str | os.PathLike | None, *subdirs: str) -> list[Path]:
    """`video_dir` first when given (flat, or with the official sub-folders), then the official sub-folders of
    `data_dir`, then `data_dir` itself."""
    dirs: list[Path] = []
    if video_dir is not None:
        vd = Path(video_dir)
        if not vd.is_dir():
            raise FileNotFoundError(f"--video-dir {vd} is not a folder")
        dirs += [vd] + [vd / s for s in subdirs]
    dd = Path(data_dir)
    dirs += [dd / s for s in subdirs] + [dd]
    seen, unique = set(), []
    for d in dirs:
        key = os.path.abspath(d)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


# --------------------------------------------------------------------------------------------------------- files


def check_data_dir(data_dir: str | os.PathLike) -> Path:
    path = Path(data_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"--data-dir {path} is not a folder")
    return path


def find_file(data_dir: str | os.PathLike, names: Sequence[str], *, depth: int = 2) -> Path | None:
    """First of `names` found in `data_dir` or its sub-folders (breadth-first, up to `depth` levels)."""
    level = [Path(data_dir)]
    for _ in range(depth + 1):
        for name in names:
            for folder in level:
                candidate = folder / name
                if candidate.is_file():
                    return candidate
        nxt = []
        for folder in level:
            try:
                nxt += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                pass
        level = nxt
    return None


def read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise format_error(path, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from e


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise format_error(path, f"line {lineno} is not valid JSON ({e.msg})") from e
            if not isinstance(obj, dict):
                raise format_error(path, f"line {lineno} is not a JSON object")
            rows.append(obj)
    return rows


_PICKLE_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("videotext_allow_pickle", default=False)


@contextlib.contextmanager
def pickle_files_allowed(allowed: bool = True):
    """Within the block, `read_pickle` fully unpickles (`videotext prepare --allow-pickle`)."""
    token = _PICKLE_ALLOWED.set(allowed)
    try:
        yield
    finally:
        _PICKLE_ALLOWED.reset(token)


class _PlainDataUnpickler(pickle.Unpickler):
    """Reads only plain data (dict, list, tuple, str, bytes, numbers, bool, None): every class or function lookup
    is refused, so no code from the file can run."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, not only plain data")


def read_pickle(path: str | os.PathLike) -> Any:
    """Read a pickle of the public releases (CE `raw-captions.pkl`, `jsfusion_val_caption_idx.pkl`).

    By default as plain data only (`_PlainDataUnpickler`: no code can run); a file that needs Python objects is
    refused with a `DatasetFormatError` naming `--allow-pickle`. Inside `pickle_files_allowed()` the file is fully
    unpickled, which can run code hidden in it: only for files you trust."""
    try:
        with open(path, "rb") as f:
            if _PICKLE_ALLOWED.get():
                return pickle.load(f)
            return _PlainDataUnpickler(f).load()
    except pickle.UnpicklingError as e:
        if not _PICKLE_ALLOWED.get() and "not only plain data" in str(e):
            raise format_error(
                path, f"is a pickle that needs Python objects ({e}); unpickling it can run code, so it is only read "
                "with --allow-pickle (pass it if you trust the file)"
            ) from e
        raise format_error(path, f"cannot be unpickled ({type(e).__name__}: {e})") from e
    except Exception as e:  # pickle raises many types
        raise format_error(path, f"cannot be unpickled ({type(e).__name__}: {e})") from e


def read_csv(
    path: str | os.PathLike,
    required: Sequence[str] | Sequence[Sequence[str]] = (),
    *,
    delimiters: str = ",;\t",
) -> list[dict[str, str]]:
    """CSV with a header row (delimiter sniffed among `delimiters`). Each entry of `required` is a column name or
    a tuple of alternative names; a missing column is a `DatasetFormatError` naming the file and the column.

    Never loses rows silently: invalid UTF-8, an unterminated quote (which would swallow the rest of the file) or
    any other malformed quoting, and a row with more fields than the header are `DatasetFormatError`s naming the
    file and the line."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise format_error(path, f"line {line} is not valid UTF-8 (byte {raw[e.start]:#x}); save the file as UTF-8") from e
    first_line = text.splitlines()[0] if text else ""
    counts = {d: first_line.count(d) for d in delimiters}
    delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    for req in required:
        options = (req,) if isinstance(req, str) else tuple(req)
        if not any(o in header for o in options):
            names = " or ".join(f'"{o}"' for o in options)
            raise format_error(path, f"has no column {names} (header: {header})")
    rows = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as e:
            raise format_error(path, f"line {line}: malformed CSV ({e}; an unterminated quote?)") from e
        if None in row:  # DictReader's key for fields beyond the header
            extra = len(row[None])
            raise format_error(path, f"line {line} has {len(header) + extra} fields, the header {len(header)}")
        rows.append(dict(row))


def read_id_list(path: str | os.PathLike) -> list[str]:
    """One id per line (CE `*_list*.txt`) or a CSV with a `video_id` column (CLIP4Clip `MSRVTT_train.9k.csv`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist")
    if path.suffix.lower() == ".csv":
        rows = read_csv(path, [("video_id", "video", "file_name")])
        key = next(k for k in ("video_id", "video", "file_name") if k in rows[0]) if rows else "video_id"
        return [r[key].strip() for r in rows if (r.get(key) or "").strip()]
    with open(path, encoding="utf-8") as f:
        return [line.strip().split()[0] for line in f if line.strip() and not line.startswith("#")]


def parse_float(value: Any, *, file: str | os.PathLike, field_name: str, where: str) -> float | None:
    """`None`/"" -> None; a number -> float; anything else is a format error naming the file and the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise format_error(file, f'{where}: "{field_name}" = {value!r} is not a number') from e


def split_files_arg(values: Sequence[str] | None) -> dict[str, str]:
    """`["test=/p/val_list_jsfusion.txt", ...]` (repeatable `--split-file NAME=PATH`) -> dict."""
    out: dict[str, str] = {}
    for value in values or []:
        if "=" not in value:
            raise ValueError(f"--split-file expects NAME=PATH, got {value!r}")
        name, path = value.split("=", 1)
        out[name.strip()] = path.strip()
    return out


def get_split_file(split_files: dict[str, str] | None, *names: str) -> Path | None:
    """The split file passed under any of `names` (e.g. `val`, `validation`)."""
    for name in names:
        if split_files and name in split_files:
            path = Path(split_files[name])
            if not path.is_file():
                raise FileNotFoundError(f"split file {name}={path} does not exist")
            return path
    return None


def check_split_files(split_files: dict[str, str] | None, allowed: Sequence[str], builder: str) -> None:
    unknown = set(split_files or {}) - set(allowed)
    if unknown:
        raise ValueError(f"{builder}: unknown --split-file names {sorted(unknown)}; expected some of {list(allowed)}")


def check_protocol(protocol: str | None, allowed: Sequence[str | None], builder: str) -> None:
    if protocol not in allowed:
        shown = [a for a in allowed if a is not None]
        raise ValueError(f"{builder}: unknown split protocol {protocol!r}; expected one of {shown}")
