"""What the tests of ``index --ray`` share: the cluster (benchmarks.ray_cluster) and a
catalog's records to compare."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np

from benchmarks.ray_cluster import RayCluster, free_port, local_cluster
from core.embed.models import DEFAULT_MODEL, model_key

__all__ = ["DAMAGED", "KEY", "RayCluster", "catalog_records", "free_port", "local_cluster"]

KEY = model_key(DEFAULT_MODEL, "default")  # EfficientNet-Lite0, real weights, ONNX Runtime
DAMAGED = {"jpg/corrupted.jpg": "file is damaged or incomplete (truncated)"}  # of exif-samples


def catalog_records(path: Path, key: str = KEY) -> dict[str, dict]:
    """Relative path -> the catalog's record of model ``key`` (metadata, float16 vector as
    float32, keyword classes), after checking that it opens whole; problems under
    "problems"."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT p.path, p.content_hash, p.width, p.height, p.captured_at, p.camera, e.vector "
            "FROM photos p JOIN embeddings e ON e.photo_id = p.id AND e.model = ?", (key,))
        out: dict[str, dict] = {}
        for rel, digest, width, height, captured, camera, blob in rows:
            classes = [c for (c,) in conn.execute(
                "SELECT class FROM keywords WHERE content_hash = ? AND model = ? "
                "ORDER BY probability DESC", (digest, key))]
            out[os.fsdecode(rel)] = {
                "meta": (digest, width, height, captured, camera), "classes": classes,
                "vector": np.frombuffer(blob, np.float16).astype(np.float32)}
        unembedded = conn.execute(
            "SELECT count(*) FROM photos p WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.photo_id = p.id)").fetchone()[0]
        out["problems"] = {os.fsdecode(p): r for p, r in
                           conn.execute("SELECT path, reason FROM problems")}
        out["unembedded"] = unembedded
        return out
    finally:
        conn.close()
