"""`videotext index --milvus` / `search --milvus` on Milvus Lite (a temporary `.db`): same ranking as the local exact
index, idempotent reruns, another model refused, TransDCS refused."""

import json
import os
import subprocess
import sys

import milvus_lite  # noqa: F401  (dev dependencies, videotext[milvus]: a missing one fails here, never skips)
import numpy as np
import pymilvus  # noqa: F401
import pytest
from method_testers import TESTERS

from videotext.cli import main


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrievers")
    return TESTERS["dual_align"].save_untrained(root / "a", 0), TESTERS["dual_align"].save_untrained(root / "b", 1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from videotext.processing import write_video

    folder = tmp_path_factory.mktemp("clips")
    for i in range(8):
        video = np.full((6, 32, 32, 3), 30 * i, np.uint8)
        video[:, 8:20, 4 + 3 * i : 16 + 3 * i] = (255 - 30 * i, 30 * i, 90)
        write_video(folder / f"clip{i}.mp4", video, fps=8)
    return folder


@pytest.fixture(scope="module")
def indexed(models, clips, tmp_path_factory):
    """Model a's local index and the Milvus Lite collection written by the same run."""
    root = tmp_path_factory.mktemp("milvus")
    db = str(root / "videos.db")
    assert main(["index", models[0], "--videos", str(clips), "--out", str(root / "idx"), "--milvus", db]) == 0
    return root / "idx", db


def _error(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("videotext ")]
    assert len(lines) == 1, err
    return lines[0]


def test_milvus_search_equals_the_local_exact_ranking(indexed, capsys):
    from videotext.inference import load_model_and_processor, search_many, search_milvus
    from videotext.milvus_store import MilvusVideoIndex

    out, db = indexed
    collection = MilvusVideoIndex(db)
    assert len(collection) == 8 and collection.meta["index_type"] == "FLAT"
    assert collection.meta["weights_sha256"] == json.loads((out / "index.json").read_text())["weights_sha256"]
    # each clip's own embedding finds that clip first
    rows = json.loads((out / "videos.json").read_text())
    hits = collection.search_embeddings(np.load(out / "embeddings.npy"), k=1)
    assert [h[0][0]["video_id"] for h in hits] == [r["video_id"] for r in rows]
    np.testing.assert_allclose([h[0][1] for h in hits], 1.0, atol=1e-4)
    model, processor = load_model_and_processor(collection.meta["model"])
    queries = ["a red box moves", "a green circle"]
    local = search_many(str(out), queries, k=8, model=model, processor=processor, exact=True)
    remote = search_milvus(db, queries, k=8, model=model, processor=processor)
    for want, got in zip(local, remote):
        assert [r["video_id"] for r, _ in got] == [r["video_id"] for r, _ in want]
        assert [r["video_path"] for r, _ in got] == [r["video_path"] for r, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    # the local HTTP endpoint serves a collection as it serves an index folder
    import threading
    import urllib.request

    from videotext.inference import embed_texts
    from videotext.video_index import serve

    server = serve(collection, lambda texts: embed_texts(model, processor, texts), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/search?q=a%20red%20box%20moves&k=4"
        with urllib.request.urlopen(url) as r:
            served = json.loads(r.read())["results"]
    finally:
        server.shutdown()
        server.server_close()
    assert [r["video_id"] for r in served] == [r["video_id"] for r, _ in local[0][:4]]
    capsys.readouterr()
    assert main(["search", str(out), "a red box moves", "-k", "3", "--exact"]) == 0
    local_lines = capsys.readouterr().out
    assert main(["search", db, "a red box moves", "-k", "3", "--milvus", db]) == 0
    assert capsys.readouterr().out == local_lines and len(local_lines.splitlines()) == 3


def test_batch_queries_over_milvus(indexed, tmp_path, capsys):
    out, db = indexed
    queries = tmp_path / "queries.txt"
    queries.write_text("a red box moves\n\na blue square\n")
    capsys.readouterr()
    assert main(["search", str(out), "--queries", str(queries), "-k", "2", "--milvus", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# a red box moves" and lines[3] == "# a blue square" and len(lines) == 6


def test_rerun_is_idempotent_and_another_model_is_refused(models, clips, indexed, tmp_path, capsys):
    from videotext.milvus_store import MilvusVideoIndex

    out, db = indexed
    assert main(["index", models[0], "--videos", str(clips), "--out", str(out), "--milvus", db]) == 0
    assert len(MilvusVideoIndex(db)) == 8  # upserted the same keys
    other = ["index", models[1], "--videos", str(clips), "--out", str(tmp_path / "b"), "--milvus", db]
    capsys.readouterr()
    assert main(other) == 1
    err = _error(capsys.readouterr().err)
    assert "videotext_videos" in err and "weights_sha256" in err and "--overwrite" in err
    # a local index of model a cannot be searched through a collection of model b
    assert main([*other, "--milvus-collection", "of_b"]) == 0
    assert main(["search", str(out), "a box", "--milvus", db, "--milvus-collection", "of_b"]) == 1
    assert "different models" in _error(capsys.readouterr().err)
    assert main(["search", db, "a box", "--milvus", db, "--milvus-collection", "missing"]) == 1
    assert "no collection missing" in _error(capsys.readouterr().err)


def test_overwrite_replaces_a_collection_of_another_model(models, clips, tmp_path):
    from videotext.milvus_store import MilvusVideoIndex

    db = str(tmp_path / "v.db")
    assert main(["index", models[0], "--videos", str(clips), "--out", str(tmp_path / "a"), "--milvus", db]) == 0
    assert main(["index", models[1], "--videos", str(clips), "--out", str(tmp_path / "b"), "--milvus", db,
                 "--overwrite"]) == 0  # fmt: skip
    collection = MilvusVideoIndex(db)
    assert collection.meta["model"].endswith("/b") and len(collection) == 8


def test_transdcs_and_bad_uris_are_refused_in_one_line(clips, tmp_path, capsys):
    transdcs = TESTERS["transdcs"].save_untrained(tmp_path / "transdcs")
    out = tmp_path / "idx"
    assert main(["index", transdcs, "--videos", str(clips), "--out", str(out), "--milvus", str(tmp_path / "t.db")]) == 1
    err = _error(capsys.readouterr().err)
    assert "transdcs" in err and "score_embeddings" in err
    assert not out.exists()  # refused before embedding anything
    assert main(["search", "idx", "a box", "--milvus", str(tmp_path / "videos.sqlite")]) == 1
    assert ".db" in _error(capsys.readouterr().err)


def test_hnsw_collection_of_many_vectors_agrees_with_exact_search(tmp_path):
    from videotext.milvus_store import MilvusVideoIndex, write_collection

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [{"video_id": f"v{i}", "video_path": f"/videos/v{i}.mp4", "start": 1.0 * i, "end": i + 2.0}
            for i in range(3000)]  # fmt: skip
    db = str(tmp_path / "h.db")
    info = write_collection(db, vectors, rows, model="m", weights_sha256="x", model_type="dual_align",
                            index_type="HNSW", batch_size=700, progress=False)  # fmt: skip
    assert info["num_videos"] == 3000 and info["index_type"] == "HNSW"
    index = MilvusVideoIndex(db)
    queries = vectors[:20] + 0.3 * rng.standard_normal((20, 16)).astype(np.float32)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = index.search_embeddings(queries, 10)
    recall = np.mean([len({int(r["video_id"][1:]) for r, _ in hits} & set(e.tolist())) / 10
                      for hits, e in zip(found, exact)])  # fmt: skip
    assert recall >= 0.9
    assert [r["video_id"] for r, _ in index.search_embeddings(vectors[5], 1)[0]] == ["v5"]
    assert index.search_embeddings(vectors[5], 1)[0][0][0] == {"video_id": "v5", "video_path": "/videos/v5.mp4",
                                                                "start": 5.0, "end": 7.0}  # fmt: skip
    with pytest.raises(ValueError, match="--exact"):
        index.search_embeddings(vectors[:1], 3, exact=True)


@pytest.mark.skipif(os.environ.get("VIDEOTEXT_SKIP_MULTIPROCESS") == "1", reason="multi-process launch disabled")
def test_two_accelerate_processes_embed_their_shards_and_one_writes_milvus(models, clips, indexed, tmp_path):
    from videotext.milvus_store import MilvusVideoIndex

    # 3-row shards: process 0 embeds shards 0 and 2, process 1 shard 1; only the main process opens the .db
    script = tmp_path / "index_with_small_shards.py"
    script.write_text("import sys\nfrom videotext import video_index\nvideo_index.SHARD_SIZE = 3\n"
                      "from videotext.cli import main\nsys.exit(main(sys.argv[1:]))\n")  # fmt: skip
    db = str(tmp_path / "two.db")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script),
           "index", models[0], "--videos", str(clips), "--out", str(tmp_path / "two"), "--milvus", db]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote 8 videos to the Milvus collection videotext_videos") == 1
    collection = MilvusVideoIndex(db)
    assert len(collection) == 8
    embeddings = np.load(indexed[0] / "embeddings.npy")  # the one-process run's
    hits = collection.search_embeddings(embeddings, k=1)
    rows = json.loads((indexed[0] / "videos.json").read_text())
    assert [h[0][0]["video_id"] for h in hits] == [r["video_id"] for r in rows]
    np.testing.assert_allclose([h[0][1] for h in hits], 1.0, atol=1e-4)
