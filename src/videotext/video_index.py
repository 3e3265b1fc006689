"""Video search indexes: `videotext index` writes one, `videotext search` (and `VideoIndex`) reads it.

Folder layout (every file written atomically: a temporary name, then `os.replace`):
    state.json         what the index is of: model, weights' hash, collection hash, settings (checked on resume)
    shards/NNNNN.npz   embeddings + row numbers of SHARD_SIZE collection rows; shards/NNNNN.json marks it complete
                       and lists the clips of that shard that could not be decoded
    embeddings.npy     (num_indexed, dim) float32, L2-normalised; videos.json: the indexed rows, in the same order
    index.json         model, dimensions, counts, the skipped clips and the files that were not videos
    ann.faiss          (collections of ANN_THRESHOLD videos or more, with faiss installed) an inverted-file index
                       answering a query from a few clusters instead of every video; `exact=True` bypasses it

A rerun resumes only when model, weights, collection and settings are the same; otherwise it refuses, naming what
differs (`--overwrite` starts clean). Clips that cannot be decoded are skipped, counted and listed in index.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

SHARD_SIZE = 256  # rows per shard: fixed, so a resume with another --batch-size reads the same shards
VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v")
FORMAT_VERSION = 2
ANN_THRESHOLD = 100_000  # from this many videos on, `videotext index` also writes the approximate index
ANN_FILE = "ann.faiss"
EXACT_BLOCK = 131_072  # rows scored at a time by exact search (a 64-query block of scores is 32 MB)


class IndexStateError(ValueError):
    """An index folder that cannot be used as asked (another model or collection, inconsistent files)."""


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ the collection
def collect_videos(source: str, split: str = "test") -> tuple[list[dict], list[str]]:
    """(rows to index, files ignored because they are not videos) for a folder of videos or a prepared dataset."""
    path = Path(source)
    if not path.exists():
        raise IndexStateError(f"--videos {source} does not exist")
    if path.is_dir() and not (path / "dataset_dict.json").exists() and not (path / "synthetic_annotations.json").exists():
        entries = sorted(path.rglob("*"))
        files = [p for p in entries if p.is_file()]
        videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
        # not videos: other files, and folders named like a video
        ignored = [str(p) for p in entries if (p.suffix.lower() in VIDEO_EXTENSIONS) != p.is_file()]
        if not videos:
            raise IndexStateError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {source}")
        stems = [p.relative_to(path).with_suffix("").as_posix() for p in videos]
        # a.mp4 and a.webm are two videos: keep the extension in the id when stems collide
        ids = [s if stems.count(s) == 1 else p.relative_to(path).as_posix() for s, p in zip(stems, videos)]
        return [{"video_id": i, "video_path": str(p.resolve())} for i, p in zip(ids, videos)], ignored
    from .datasets_scripts import load_prepared

    dataset = load_prepared(source)
    if split not in dataset:
        raise IndexStateError(f"split {split!r} not in {source} (has {list(dataset)})")
    rows = [
        {"video_id": r["video_id"], "video_path": r["video_path"], "start": r.get("start"), "end": r.get("end")}
        for r in dataset[split]
    ]
    return rows, []


def weights_fingerprint(model, model_path: str) -> str:
    """sha256 of the model folder's weight files; a Hub model's commit; else of the loaded tensors."""
    folder = Path(model_path)
    files = sorted(p for p in folder.glob("*") if p.suffix in (".safetensors", ".bin")) if folder.is_dir() else []
    digest = hashlib.sha256()
    if files:
        for file in files:
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()
    commit = getattr(model.config, "_commit_hash", None)
    if commit:
        return f"hub:{commit}"
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _collection_hash(rows: Sequence[dict]) -> str:
    return hashlib.sha256(json.dumps(list(rows), sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ writing
def _check_or_start(out: Path, state: dict, overwrite: bool) -> None:
    """Resume an index with the same state; refuse one of anything else (or start clean with `overwrite`)."""
    state_file = out / "state.json"
    has_content = out.exists() and any(out.iterdir())
    if overwrite and has_content:
        print(f"videotext index: --overwrite: removing the index in {out}")
        shutil.rmtree(out)
    elif state_file.exists():
        old = json.loads(state_file.read_text())
        differ = [key for key in state if old.get(key) != state[key]]
        if differ:
            done = len(list((out / "shards").glob("*.json")))
            if done == 0:
                print(f"videotext index: {out} holds no finished shard; starting clean ({', '.join(differ)} changed)")
                shutil.rmtree(out)
            else:
                raise IndexStateError(
                    f"{out} was indexed with a different {', '.join(differ)}; use a new --out or pass --overwrite "
                    "to start clean"
                )
    elif has_content:
        raise IndexStateError(f"{out} is not empty and holds no index state; use a new --out or pass --overwrite")
    (out / "shards").mkdir(parents=True, exist_ok=True)
    atomic_write_text(state_file, json.dumps(state, indent=2))


def build_index(
    model,
    processor,
    rows: list[dict],
    out: str | os.PathLike,
    *,
    model_id: str,
    batch_size: int = 16,
    ignored_files: Sequence[str] = (),
    overwrite: bool = False,
    progress: bool = True,
    keyframes_only: bool = False,
    num_workers: int = 0,
) -> dict:
    """Embed `rows` into the index folder `out` (resumable, see the module docstring); returns index.json's dict.

    Under `accelerate launch` (several processes) process p embeds shards p, p + P, ... and the main process merges
    them once all are written; one process does everything otherwise. `num_workers`: decoding worker processes
    (each process's own; `videotext.inference.iter_clip_batches`), one pipeline over all the shards to embed."""
    from accelerate import PartialState

    from . import inference
    from .inference import default_frame_loader, model_num_frames
    from .training.cpu_launch import cpu_only_distributed

    out = Path(out)
    num_frames = model_num_frames(model)
    state = {
        "format": FORMAT_VERSION,
        "model": model_id,
        "weights_sha256": weights_fingerprint(model, model_id),
        "collection_sha256": _collection_hash(rows),
        "num_videos": len(rows),
        "settings": {"shard_size": SHARD_SIZE, "num_frames": num_frames},
    }
    if keyframes_only:  # other frames than an exact index: resuming must not mix the two
        state["settings"]["keyframes_only"] = True
    processes = PartialState(cpu=cpu_only_distributed())
    if processes.is_main_process:
        _check_or_start(out, state, overwrite)
    processes.wait_for_everyone()
    shards = out / "shards"
    num_shards = -(-len(rows) // SHARD_SIZE)
    mine = range(processes.process_index, num_shards, processes.num_processes)
    done = sum((shards / f"{s:05d}.json").exists() for s in range(num_shards))
    if done and processes.is_main_process:
        print(f"videotext index: resuming {out}: {done} of {num_shards} shards already written")
    load_frames = default_frame_loader(num_frames, keyframes_only)
    share = sum(min(SHARD_SIZE, len(rows) - shard * SHARD_SIZE) for shard in mine)
    bar = tqdm(total=share, desc="indexing", unit="video", disable=not (progress and processes.is_main_process))
    todo = []
    for shard in mine:
        if (shards / f"{shard:05d}.json").exists():
            bar.update(min(SHARD_SIZE, len(rows) - shard * SHARD_SIZE))
        else:
            todo.append(shard)
    # batches never cross a shard: a shard is written as soon as its last batch is embedded
    batches = [b for shard in todo for b in inference.row_batches(min(SHARD_SIZE, len(rows) - shard * SHARD_SIZE),
                                                                   batch_size, first=shard * SHARD_SIZE)]  # fmt: skip
    chunks, ok, failures = [], [], []
    embedded = inference.iter_video_embeddings(model, processor, rows, batches, load_frames=load_frames,
                                               num_workers=num_workers)  # fmt: skip
    for batch, (embeddings, numbers, bad) in zip(batches, embedded):
        if numbers:
            chunks.append(embeddings)
            ok += numbers
        failures += [(number, message) for number, message, _ in bad]
        if batch.stop % SHARD_SIZE == 0 or batch.stop == len(rows):
            _write_shard(shards, rows, batch.stop - 1, chunks, ok, failures)
            bar.update(min(SHARD_SIZE, len(rows) - (batch.stop - 1) // SHARD_SIZE * SHARD_SIZE))
            chunks, ok, failures = [], [], []
    bar.close()
    processes.wait_for_everyone()
    if processes.is_main_process:
        meta = _merge(out, rows, num_shards, state, model, ignored_files)
    processes.wait_for_everyone()
    return meta if processes.is_main_process else json.loads((out / "index.json").read_text())


def _write_shard(shards: Path, rows: list[dict], last: int, chunks: list, ok: list[int], failures: list) -> None:
    """Shard of row `last`: its embeddings (global row numbers) then its marker (which makes it count as done)."""
    shard = last // SHARD_SIZE
    first = shard * SHARD_SIZE
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
    tmp = shards / f".{shard:05d}.tmp.npz"
    with open(tmp, "wb") as f:
        np.savez(f, embeddings=embeddings.astype(np.float32), rows=np.asarray(ok, np.int64))
    os.replace(tmp, shards / f"{shard:05d}.npz")
    skipped = [{"video_id": rows[i]["video_id"], "video_path": rows[i]["video_path"], "error": err}
               for i, err in failures]  # fmt: skip
    num_rows = min(SHARD_SIZE, len(rows) - first)
    atomic_write_text(shards / f"{shard:05d}.json", json.dumps({"first_row": first, "num_rows": num_rows,
                                                                "skipped": skipped}))  # fmt: skip


def _merge(out: Path, rows: list[dict], num_shards: int, state: dict, model, ignored_files) -> dict:
    embeddings, kept, skipped = [], [], []
    for shard in range(num_shards):
        with np.load(out / "shards" / f"{shard:05d}.npz") as data:
            embeddings.append(data["embeddings"])
            kept += data["rows"].tolist()
        skipped += json.loads((out / "shards" / f"{shard:05d}.json").read_text())["skipped"]
    dims = {e.shape[1] for e in embeddings if e.size}
    if len(dims) > 1:
        raise IndexStateError(f"{out}: shards hold embeddings of different sizes {sorted(dims)}; re-run with --overwrite")
    dim = dims.pop() if dims else 0
    matrix = np.concatenate([e.reshape(-1, dim) for e in embeddings]).astype(np.float32)
    if len(kept) + len(skipped) != len(rows) or matrix.shape[0] != len(kept):
        raise IndexStateError(f"{out}: shards cover {len(kept) + len(skipped)} of {len(rows)} videos; re-run with --overwrite")
    atomic_save_npy(out / "embeddings.npy", matrix)
    atomic_write_text(out / "videos.json", json.dumps([rows[i] for i in kept]))
    ann = build_ann(matrix, out / ANN_FILE) if len(matrix) >= ANN_THRESHOLD else None
    meta = {
        "format": FORMAT_VERSION,
        "model": state["model"],
        "model_type": model.config.model_type,
        "weights_sha256": state["weights_sha256"],
        "embedding_dim": dim,
        "num_videos": len(kept),
        "num_skipped": len(skipped),
        "skipped": skipped,
        "num_ignored_files": len(ignored_files),
        "ignored_files": list(ignored_files),
        "normalized": True,
        "ann": ann,
    }
    atomic_write_text(out / "index.json", json.dumps(meta, indent=2))
    return meta


def build_ann(embeddings: np.ndarray, path: Path, *, nlist: int | None = None, nprobe: int | None = None) -> dict | None:
    """An inverted-file index (faiss `IndexIVFFlat`, inner product) over `embeddings`, written to `path`; None when
    faiss is not installed (`pip install videotext[faiss]`). `nlist` clusters (default sqrt(n)); a query scans the
    `nprobe` nearest clusters (default nlist / 64), about 1.5% of the collection. Recall against exact search is
    measured by `bench/run.py search`."""
    try:
        import faiss
    except ImportError:
        return None
    n, dim = embeddings.shape
    nlist = min(n, nlist or max(1, int(n**0.5)))
    nprobe = nprobe or max(1, nlist // 64)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(n, size=min(n, 40 * nlist), replace=False)
    index.train(np.ascontiguousarray(embeddings[np.sort(sample)], dtype=np.float32))
    index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    tmp = path.with_name(f".{path.name}.tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)
    return {"kind": "faiss IndexIVFFlat", "nlist": nlist, "nprobe": nprobe}


# ------------------------------------------------------------------------------------------------ reading
class VideoIndex:
    """An index folder opened once: embeddings memory-mapped, exact top-k by partial selection."""

    def __init__(self, index_dir: str | os.PathLike):
        self.path = Path(index_dir)
        if not (self.path / "index.json").is_file():
            raise IndexStateError(f"{index_dir} is not an index folder (no index.json; run `videotext index` first)")
        self.meta = json.loads((self.path / "index.json").read_text())
        self.rows = json.loads((self.path / "videos.json").read_text())
        self.embeddings = np.load(self.path / "embeddings.npy", mmap_mode="r")
        if self.embeddings.shape[0] != len(self.rows) or self.embeddings.shape[0] != self.meta.get("num_videos"):
            raise IndexStateError(
                f"{index_dir} is inconsistent: {self.embeddings.shape[0]} embeddings, {len(self.rows)} videos in "
                f"videos.json, {self.meta.get('num_videos')} in index.json; rebuild it with `videotext index --overwrite`"
            )

    def __len__(self) -> int:
        return len(self.rows)

    def _ann(self):
        if not hasattr(self, "_ann_index"):
            self._ann_index = None
            if self.meta.get("ann") and (self.path / ANN_FILE).is_file():
                try:
                    import faiss
                except ImportError:
                    return None
                self._ann_index = faiss.read_index(str(self.path / ANN_FILE))
                self._ann_index.nprobe = int(self.meta["ann"]["nprobe"])
        return self._ann_index

    def search_embeddings(self, queries: np.ndarray, k: int, exact: bool = False, score=None):
        """Top-`k` (row, score) per query row of `queries` (num_queries, dim), best first: from the approximate
        index when the folder has one (unless `exact` or a `score`), else exact. `score(queries, videos) ->
        (num_queries, num_videos)` replaces the inner product (a model's own similarity, e.g. TransDCS's)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        if queries.shape[1] != self.embeddings.shape[1]:
            raise IndexStateError(
                f"query embeddings have {queries.shape[1]} dimensions, the index {self.path} "
                f"{self.embeddings.shape[1]}: search with the model that built it ({self.meta.get('model')})"
            )
        k = min(k, len(self.rows))
        if k == 0:
            return [[] for _ in queries]
        ann = None if exact or score is not None else self._ann()
        if ann is not None:
            scores, ids = ann.search(np.ascontiguousarray(queries), k)
            return [[(self.rows[i], float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                    for row_ids, row_scores in zip(ids.tolist(), scores.tolist())]  # fmt: skip
        top_scores, top_ids = self._exact_top_k(queries, k, score or (lambda q, block: q @ block.T))
        results = []
        for q in range(len(queries)):
            # ties broken by row order, so results do not depend on the partition
            order = sorted(range(k), key=lambda j: (-top_scores[q, j], top_ids[q, j]))
            results.append([(self.rows[int(top_ids[q, j])], float(top_scores[q, j])) for j in order])
        return results

    def _exact_top_k(self, queries: np.ndarray, k: int, score) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids), each (num_queries, k), unordered: the collection in blocks of EXACT_BLOCK rows, a
        running top-k per query, so no (num_queries, num_videos) matrix is ever held."""
        best_scores = np.full((len(queries), 0), -np.inf, np.float32)
        best_ids = np.zeros((len(queries), 0), np.int64)
        for start in range(0, len(self.rows), EXACT_BLOCK):
            scores = np.asarray(score(queries, np.asarray(self.embeddings[start : start + EXACT_BLOCK])), np.float32)
            keep = min(k, scores.shape[1])
            part = np.argpartition(scores, scores.shape[1] - keep, axis=1)[:, -keep:]
            best_scores = np.concatenate([best_scores, np.take_along_axis(scores, part, 1)], axis=1)
            best_ids = np.concatenate([best_ids, part + start], axis=1)
            if best_scores.shape[1] > k:
                part = np.argpartition(best_scores, best_scores.shape[1] - k, axis=1)[:, -k:]
                best_scores = np.take_along_axis(best_scores, part, 1)
                best_ids = np.take_along_axis(best_ids, part, 1)
        return best_scores, best_ids


# ------------------------------------------------------------------------------------------------ serving
def serve(index: VideoIndex, embed_queries, host: str = "127.0.0.1", port: int = 8765, default_k: int = 10):
    """A small local HTTP endpoint: `GET /search?q=TEXT&k=10` -> JSON `{"query", "results": [{rank, score,
    video_id, video_path}]}`. `embed_queries(list[str]) -> (n, dim)`; the model and the index stay loaded. Returns
    the (not yet started) `ThreadingHTTPServer`; `serve_forever()` runs it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    lock = threading.Lock()  # one query at a time through the model

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            params = parse_qs(url.query)
            query = (params.get("q") or [""])[0].strip()
            try:
                k = int((params.get("k") or [default_k])[0])
            except ValueError:
                k = 0
            if url.path != "/search":
                return self._reply(404, {"error": f"unknown path {url.path}; use /search?q=TEXT&k=10"})
            if not query or k < 1:
                return self._reply(400, {"error": "give a non-empty q and k >= 1"})
            with lock:
                hits = index.search_embeddings(embed_queries([query]), k)[0]
            results = [{"rank": r, "score": round(s, 6), "video_id": row["video_id"], "video_path": row["video_path"]}
                       for r, (row, s) in enumerate(hits, start=1)]  # fmt: skip
            self._reply(200, {"query": query, "results": results})

        def _reply(self, status: int, body: dict):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet: one line per query is noise for a local tool
            pass

    return ThreadingHTTPServer((host, port), Handler)
