"""Scale-out search: an index's embeddings in a Milvus collection, written and searched through pymilvus'
`MilvusClient` (`pip install 'videotext[milvus]'`).

One client, two deployments: a local path ending in `.db` is Milvus Lite (embedded in this process, one machine);
`http(s)://host:19530` is a Milvus server or cluster, with the token (if any) read from the environment variable
`MILVUS_TOKEN`, never from the command line.

Collection (default name `videotext_videos`):
    key          VARCHAR primary key: the video id, plus `@start-end` for a clip of a longer video (so a rerun
                 upserts the same keys and never duplicates a video)
    video_id, video_path, start, end (-1 for a whole video)
    embedding    FLOAT_VECTOR(dim of the model), L2-normalised; metric IP, which on unit vectors is the cosine the
                 model ranks by
Properties record the model, its weights' sha256 and model type (as the local `state.json` does): writing
embeddings of another model into it is refused unless `overwrite` drops it first. The vector index is chosen from
the collection's size when it is created: FLAT (exact) below `ANN_THRESHOLD` videos, HNSW from there (Milvus Lite
and clusters both build it; `bench/run.py milvus` measures its recall@10 against exact search).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .video_index import ANN_THRESHOLD, IndexStateError

DEFAULT_COLLECTION = "videotext_videos"
TOKEN_ENV = "MILVUS_TOKEN"
INSERT_BATCH = 1000  # rows per upsert call (a 1000 x 512 float batch is 2 MB, well under gRPC's message limit)
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
HNSW_EF = 128  # search breadth: the benchmark's recall@10 at 100k is measured with this
MAX_TOP_K = 16_384  # Milvus' limit on one search's `limit`
KEY_LENGTH, PATH_LENGTH = 1024, 4096
INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX")
PROPERTY = "videotext.{}"  # collection property names
RECORDED = ("model", "weights_sha256", "model_type")


def refuse_own_score(model) -> None:
    """Milvus ranks by inner product; a model with its own `score_embeddings` (TransDCS) ranks by something else."""
    if hasattr(model, "score_embeddings"):
        raise ValueError(
            f"{model.config.model_type} ranks with its own score_embeddings, not an inner product, so a Milvus "
            "collection cannot search it; use the local index (videotext search IDX) instead"
        )


def connect(uri: str):
    """A `MilvusClient` for `uri` (a `.db` path: Milvus Lite; `http(s)://`: a server, token from $MILVUS_TOKEN)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as err:
        raise ValueError("--milvus needs pymilvus and milvus-lite: pip install 'videotext[milvus]'") from err
    remote = uri.startswith(("http://", "https://", "tcp://", "unix:"))
    if not remote and not uri.endswith(".db"):
        raise ValueError(f"--milvus {uri}: give a Milvus Lite file ending in .db or a server URI http(s)://HOST:PORT")
    if not remote:
        try:
            Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"--milvus {uri}: cannot create its folder ({err.strerror or err})") from err
        uri = str(Path(uri).expanduser().resolve())
    try:
        return MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, "") if remote else "")
    except Exception as err:  # pymilvus raises its own exception types for every connection problem
        raise ValueError(f"--milvus {uri}: cannot connect ({_reason(err)})") from err


def _reason(err: Exception) -> str:
    text = str(getattr(err, "message", "") or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def row_key(row: dict) -> str:
    """The primary key of a collection row: the video id, with the clip's bounds when it is part of a video."""
    if row.get("start") is None and row.get("end") is None:
        return str(row["video_id"])
    return f"{row['video_id']}@{row.get('start')}-{row.get('end')}"


def choose_index_type(num_videos: int) -> str:
    return "FLAT" if num_videos < ANN_THRESHOLD else "HNSW"


def _schema(client, dim: int):
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=KEY_LENGTH)
    schema.add_field("video_id", DataType.VARCHAR, max_length=KEY_LENGTH)
    schema.add_field("video_path", DataType.VARCHAR, max_length=PATH_LENGTH)
    schema.add_field("start", DataType.DOUBLE)
    schema.add_field("end", DataType.DOUBLE)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def _properties(client, name: str) -> dict:
    return dict(client.describe_collection(name).get("properties") or {})


def _dim(client, name: str) -> int:
    fields = client.describe_collection(name)["fields"]
    return int(next(f for f in fields if f["name"] == "embedding")["params"]["dim"])


def _index_type(client, name: str) -> str:
    indexes = client.list_indexes(name, field_name="embedding") or ["embedding"]
    return str(client.describe_index(name, indexes[0]).get("index_type", "FLAT")).upper()


def count(client, name: str) -> int:
    return int(client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])


def write_collection(
    uri: str,
    embeddings: np.ndarray,
    rows: Sequence[dict],
    *,
    model: str,
    weights_sha256: str,
    model_type: str,
    collection: str = DEFAULT_COLLECTION,
    overwrite: bool = False,
    index_type: str | None = None,
    batch_size: int = INSERT_BATCH,
    progress: bool = True,
) -> dict:
    """Upsert `embeddings` (num_rows, dim), L2-normalised, with their `rows` into the collection; returns
    {uri, collection, num_videos, embedding_dim, index_type}. Reruns upsert the same keys (idempotent); a collection
    of another model (or dimension) is refused unless `overwrite`, which drops it first."""
    embeddings = np.asarray(embeddings, np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(rows):
        raise ValueError(f"{len(rows)} rows but embeddings of shape {embeddings.shape}")
    if index_type is not None and index_type.upper() not in INDEX_TYPES:
        raise ValueError(f"--milvus-index {index_type}: choose one of {', '.join(INDEX_TYPES)}")
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings hold non-finite values; the model's outputs are broken, nothing was written")
    for row in rows:
        if len(row_key(row)) > KEY_LENGTH or len(str(row["video_path"])) > PATH_LENGTH:
            raise ValueError(f"video {row['video_path']}: id or path longer than the collection's fields "
                             f"({KEY_LENGTH} / {PATH_LENGTH} characters)")  # fmt: skip
    client = connect(uri)
    dim = embeddings.shape[1]
    wanted = {"model": model, "weights_sha256": weights_sha256, "model_type": model_type}
    if client.has_collection(collection):
        old = _properties(client, collection)
        differ = [key for key in RECORDED if old.get(PROPERTY.format(key)) != wanted[key]]
        if _dim(client, collection) != dim:
            differ.append("embedding_dim")
        if differ and not overwrite:
            raise IndexStateError(
                f"Milvus collection {collection} at {uri} holds embeddings of a different {', '.join(differ)}; use "
                "another --milvus-collection or pass --overwrite to replace it"
            )
        if differ:
            print(f"videotext index: --overwrite: dropping the Milvus collection {collection} ({', '.join(differ)})")
            client.drop_collection(collection)
    if not client.has_collection(collection):
        kind = (index_type or choose_index_type(len(rows))).upper()
        params = client.prepare_index_params()
        params.add_index(field_name="embedding", index_type=kind, metric_type="IP",
                         params=HNSW_PARAMS if kind == "HNSW" else {})  # fmt: skip
        properties = {PROPERTY.format(key): str(value) for key, value in wanted.items()}
        client.create_collection(collection, schema=_schema(client, dim), index_params=params, properties=properties)
    bar = tqdm(total=len(rows), desc=f"milvus {collection}", unit="video", disable=not progress)
    for start in range(0, len(rows), batch_size):
        batch = [
            {"key": row_key(row), "video_id": str(row["video_id"]), "video_path": str(row["video_path"]),
             "start": float(-1 if row.get("start") is None else row["start"]),
             "end": float(-1 if row.get("end") is None else row["end"]), "embedding": vector.tolist()}
            for row, vector in zip(rows[start : start + batch_size], embeddings[start : start + batch_size])
        ]  # fmt: skip
        client.upsert(collection, batch)
        bar.update(len(batch))
    bar.close()
    client.flush(collection)
    client.load_collection(collection)
    return {"uri": uri, "collection": collection, "num_videos": count(client, collection), "embedding_dim": dim,
            "index_type": _index_type(client, collection)}  # fmt: skip


class MilvusVideoIndex:
    """A Milvus collection written by `write_collection`, searched like a `VideoIndex` (`search_embeddings`)."""

    def __init__(self, uri: str, collection: str = DEFAULT_COLLECTION):
        self.uri, self.collection = uri, collection
        self.client = connect(uri)
        if not self.client.has_collection(collection):
            raise IndexStateError(
                f"no collection {collection} at {uri}; write one with `videotext index MODEL --videos DIR --out IDX "
                f"--milvus {uri}`"
            )
        properties = _properties(self.client, collection)
        self.meta = {key: properties.get(PROPERTY.format(key)) for key in RECORDED}
        if not self.meta["model"]:
            raise IndexStateError(f"Milvus collection {collection} at {uri} was not written by `videotext index`")
        self.meta["embedding_dim"] = _dim(self.client, collection)
        self.meta["index_type"] = _index_type(self.client, collection)
        self.client.load_collection(collection)

    def __len__(self) -> int:
        return count(self.client, self.collection)

    def search_embeddings(self, queries: np.ndarray, k: int, exact: bool = False, score=None):
        """Top-`k` (row, score) per query row of `queries` (num_queries, dim), best first, by inner product."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if score is not None:
            raise ValueError("a Milvus collection ranks by inner product only; search this model's local index")
        if exact and self.meta["index_type"] not in ("FLAT", "BRUTE_FORCE"):
            raise ValueError(f"--exact: the Milvus collection {self.collection} has an approximate "
                             f"{self.meta['index_type']} index; search the local index for exact results")  # fmt: skip
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        if queries.shape[1] != self.meta["embedding_dim"]:
            raise IndexStateError(
                f"query embeddings have {queries.shape[1]} dimensions, the collection {self.collection} "
                f"{self.meta['embedding_dim']}: search with the model that wrote it ({self.meta['model']})"
            )
        k = min(k, MAX_TOP_K)
        params = {"ef": max(HNSW_EF, k)} if self.meta["index_type"] in ("HNSW", "AUTOINDEX") else {}
        hits = self.client.search(
            self.collection, data=queries.tolist(), limit=k, anns_field="embedding",
            output_fields=["video_id", "video_path", "start", "end"],
            search_params={"metric_type": "IP", "params": params},
        )  # fmt: skip
        return [[(self._row(hit["entity"]), float(hit["distance"])) for hit in per_query] for per_query in hits]

    def close(self) -> None:
        """Close the connection; for Milvus Lite also stop the embedded server of this `.db` (it holds the folder)."""
        self.client.close()
        if self.uri.endswith(".db"):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(str(Path(self.uri).expanduser().resolve()))

    @staticmethod
    def _row(entity: dict) -> dict:
        row = {"video_id": entity["video_id"], "video_path": entity["video_path"]}
        if entity["start"] >= 0 or entity["end"] >= 0:
            row["start"] = None if entity["start"] < 0 else entity["start"]
            row["end"] = None if entity["end"] < 0 else entity["end"]
        return row


def write_index_folder(index_dir: str | os.PathLike, uri: str, **kwargs) -> dict:
    """`write_collection` of an index folder written by `videotext index` (its embeddings, rows and model)."""
    from .video_index import VideoIndex

    index = VideoIndex(index_dir)
    meta = index.meta
    return write_collection(uri, index.embeddings, index.rows, model=meta["model"],
                            weights_sha256=meta["weights_sha256"], model_type=meta["model_type"], **kwargs)  # fmt: skip
