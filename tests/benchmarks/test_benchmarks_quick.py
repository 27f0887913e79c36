"""The benchmarks run in quick mode: they work and print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import benchmarks.search


def _table(out: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table in `out`, as {column: cell}."""
    lines: list[str] = []
    for line in (each.strip() for each in out.splitlines()):
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            break
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]


def test_search_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.search.main(["--quick"]) == 0
    rows = {row["index"]: row for row in _table(capsys.readouterr().out)}
    assert {"exact", "annoy"} <= set(rows)
    for row in rows.values():
        assert int(row["n"].replace(",", "")) == 2000
        assert float(row["build s"]) >= 0 and float(row["median ms"]) > 0
        assert 0.0 <= float(row["recall@10"]) <= 1.0
    assert float(rows["exact"]["recall@10"]) == 1.0


def test_memory_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.memory

    assert benchmarks.memory.main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 50 | mobilenet_v3_small")]
    assert len(rows) == 1, out
    cells = [float(cell) for cell in rows[0].strip("|").split("|")[2:]]
    seconds, *rss, peak = cells
    assert seconds > 0 and 100 < peak < 8000
    assert all(0 < value <= peak for value in rss)
    assert "50 embedded" in out


def test_heads_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.heads

    assert benchmarks.heads.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "train under 5 s, predict under 1 s" in out
    rows = {row["head"]: row for row in _table(out)}
    assert set(rows) == {"linear", "mlp"}
    for row in rows.values():
        assert row["train n"] == "1,000" and row["predict n"] == "5,000"
        assert float(row["train s"]) > 0 and float(row["predict s"]) > 0
        assert float(row["val accuracy"]) >= 0.8  # separable classes; chance is 0.1


def test_indexing_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.indexing

    assert benchmarks.indexing.main(["--quick", "--cache", str(tmp_path)]) == 0
    rows = _table(capsys.readouterr().out)
    assert [(row["model"], row["n"]) for row in rows] == [("mobilenet_v3_small", "4")]
    row = rows[0]
    d, c, p = float(row["D s"]), float(row["C s"]), float(row["P s"])
    assert d > 0 and c > 0 and p > 0
    assert float(row["D+C s"]) == pytest.approx(d + c, abs=0.02)
    # P s is printed to 0.01 s: a run of a few hundredths of a second moves 4 / P a lot
    assert 4 / (p + 0.006) <= float(row["P photos/s"]) <= 4 / max(p - 0.006, 1e-3)
    assert len(list((tmp_path / "1mp-n4").glob("*.jpg"))) == 4


def test_map_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.map

    assert benchmarks.map.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "numba compile" in out
    rows = _table(out)
    assert [(r["photos"], r["umap"]) for r in rows] == [("1,000", "seeded")], out
    row = rows[0]
    assert float(row["UMAP s"]) > 0 and int(row["clusters"]) >= 1
    assert float(row["peak MB"]) >= 0
    assert float(row["neighbours kept"]) >= 0.9  # the map keeps synthetic clusters together


def test_app_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.app

    assert benchmarks.app.main(["--quick", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert len(rows) == 1, out
    row = rows[0]
    assert row["photos"] == "2,000" and row["display"] == "offscreen"
    assert 0 < float(row["window shown s"]) <= float(row["usable s"])
    assert float(row["stall scroll ms"]) >= benchmarks.app.HEARTBEAT_MS * 0.5
    assert 100 < float(row["app peak RSS MB"]) <= float(row["with children MB"]) < 16_000
    assert "rows at the end: 2004" in out  # the 4 new photos were embedded and listed


def test_video_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.video

    assert benchmarks.video.main(["--quick", "--mixed", "6,1", "--megapixels", "1"]) == 0
    out = capsys.readouterr().out
    assert "a one-minute 1080p clip indexed in <= 5 s" in out
    out, mixed = out.split("A mixed folder")
    rows = {row["folder"]: row for row in _table(mixed)}
    assert (rows["mixed"]["photos"], rows["mixed"]["clips"]) == ("6", "1")
    assert float(rows["mixed"]["index s"]) > 0 and float(rows["photos alone"]["photos/s"]) > 0
    assert " x parts: " in rows["mixed"]["mixed <= 1.05 x (photos + clips) apart"]
    tables = out.split("Indexing one clip")
    cuts = {row["keyframe to keyframe"]: row for row in _table(tables[0])}
    assert float(cuts["at a cut"]["hist min"]) > float(cuts["within a shot"]["hist max"])
    (row,) = _table(tables[1])
    assert row["clip"] == "20 s 240p 30 fps" and int(row["frames kept"]) == 2
    assert float(row["index s"]) > 0 and float(row["decode-only s"]) > 0


def _tables(out: str) -> dict[str, list[dict[str, str]]]:
    """Every Markdown table in `out` under the title line printed above it."""
    tables: dict[str, list[dict[str, str]]] = {}
    title, block = "", []
    for line in [*out.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables[title] = _table("\n".join(block))
            block = []
        elif line.strip():
            title = line.strip()
    return tables


def test_quality_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.quality
    from benchmarks.quality_data import SHARED_PHOTOS

    if not SHARED_PHOTOS.is_dir():
        pytest.skip(f"the real photos of {SHARED_PHOTOS} are not here (a user's own clone)")

    assert benchmarks.quality.main(["--quick", "--cache", str(tmp_path)]) == 0
    tables = _tables(capsys.readouterr().out)
    per_edit = tables["Near-duplicates: mAP (recall@1) per edit"]
    assert [row["edit"] for row in per_edit] == list(benchmarks.quality.QUICK_KINDS)
    summary = {row["descriptor"]: row for row in next(
        rows for title, rows in tables.items() if title.startswith("Summary"))}
    model = next(name for name in summary if name.startswith("efficientnet_lite"))
    ours, phash = summary[model], summary["pHash (imagehash)"]

    def value(cell: str) -> float:
        return float(cell.split()[0])

    for row in (ours, phash):
        assert all(0.0 <= value(row[c]) <= 1.0 for c in row if c != "descriptor"
                   and c != "ahead of pHash")
    # real ImageNet features: edited copies find their original, far ahead of a hash on
    # mirrored, cropped and turned copies; photos of a group find each other
    assert value(ours["mild mAP (>=0.95)"]) >= 0.95
    assert value(ours["all edits mAP"]) > value(phash["all edits mAP"]) + 0.2
    assert ours["ahead of pHash"] == "yes"
    groups = tables["Semantic: mAP@10 of same-group retrieval per group"]
    chance = sum(float(r["chance"]) for r in groups) / len(groups)
    assert value(ours["semantic mAP@10"]) > 2 * chance
    assert value(ours["few-shot acc (3/group)"]) > value(phash["few-shot acc (3/group)"])
    # the visual layer (--layer visual) has its own row, and finds edited copies as well
    visual = summary[f"{model} (visual layer)"]
    assert value(visual["mild mAP (>=0.95)"]) >= 0.95 and visual["ahead of pHash"] == "yes"
    assert visual["semantic mAP@10"] != ours["semantic mAP@10"]


def test_duplicates_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.duplicates

    assert benchmarks.duplicates.main(["--quick"]) == 0
    out = capsys.readouterr().out
    grouping, kinds_part = out.split("Pair kinds", 1)
    (row,) = _table(grouping)
    assert row["n"] == "2,000" and float(row["seconds"]) > 0 and float(row["peak MB"]) > 0
    assert float(row["planted pairs grouped"]) >= 0.9
    assert float(row["graph recall"]) >= 0.95
    kinds = _table(kinds_part)
    assert {r["kind"] for r in kinds} == {"re-encode", "crop/edit"}
    for r in kinds:
        assert int(r["pairs"]) > 0 and 0.0 <= float(r["precision"]) <= 1.0
        assert float(r["recall"]) >= 0.5


def test_similarity_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.similarity

    assert benchmarks.similarity.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "target: 10,000 triplets train in under 10 s" in out
    scenes = out[out.index("On generated scenes"):]
    (train,) = _table(out[:out.index("On generated scenes")])
    assert int(train["train triplets"].replace(",", "")) > 700
    assert float(train["train s"]) > 0 and train["kept"] in ("triplet", "binary")
    assert float(train["after"]) > float(train["before"])  # the kinds are learnt
    rows = {row["similarity"].split(" (")[0]: row for row in _table(scenes)}
    assert set(rows) == {"base embedding", "learnt"}
    for row in rows.values():
        assert 0 <= float(row["mAP@10 judged"]) <= 1 and 0 <= float(row["mAP@10 unjudged"]) <= 1


def test_faces_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.faces

    assert benchmarks.faces.main(["--quick", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {row["run"]: row for row in _table(out)}
    assert set(rows) == {"in-process"}  # the pool runs in the full mode
    for row in rows.values():
        assert row["photos"] == "3" and float(row["photos/s"]) > 0
        found, pasted = map(int, row["faces found"].split("/"))
        assert pasted > 0 and found >= pasted * 0.8  # real faces, pasted large: found
    assert float(rows["in-process"]["CPU ms/photo"]) > 0
    assert "ms a face" in out
    stages = {row["stage"]: float(row["CPU ms"]) for title, table in _tables(out).items()
              if title.startswith("CPU ms of each stage") for row in table}
    onnx = stages["128-d descriptor in ONNX Runtime (now)"]
    assert 0 < onnx < stages["128-d descriptor in dlib (before)"] / 3  # same network


def test_killresume_benchmark_quick() -> None:
    """In its own process: it forks, and this one may already run OpenMP threads (a fork
    of which would hang)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.killresume", "--quick"],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["command"]: row for row in _table(proc.stdout)}
    assert set(rows) == {"index", "train", "labels import", "all"}
    assert rows["all"]["trials"] == "3" and rows["all"]["whole after kill and resume"] == "3"
    assert int(rows["all"]["SIGKILL"]) + int(rows["all"]["SIGINT"]) == 3
    assert "no failures: integrity_check ok" in proc.stdout


def test_scale_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.scale

    assert benchmarks.scale.main(["--quick", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "uptime:" in out
    rows = {row["figure"]: row for row in _table(out)}
    assert {"catalog open s", "list (folder order) s", "sort by date s", "folder counts s",
            "catalog bytes a photo beyond vectors", "search index build s", "search p95 ms",
            "duplicate grouping s"} <= set(rows)
    for row in rows.values():
        assert row["photos"] == "3,000" and row["status"] in ("met", "MISSED")
        assert float(row["measured"].replace(",", "")) >= 0
    assert "recall@10 1.000" in rows["search p95 ms"]["notes"]  # exact search below 10k
    assert 500 < float(rows["catalog bytes a photo beyond vectors"]["measured"]
                       .replace(",", "")) < 5000
    # the library was built once, through the scan, and is re-used by the next run
    assert len(list((tmp_path / "n3000" / "photos").rglob("*.jpg"))) == 3000
    assert (tmp_path / "n3000" / "ready").exists()


def test_regions_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.regions
    from benchmarks.quality_data import SHARED_PHOTOS

    if not SHARED_PHOTOS.is_dir():
        pytest.skip(f"the real photos of {SHARED_PHOTOS} are not here (a user's own clone)")
    assert benchmarks.regions.main(["--quick", "--cache", str(tmp_path)]) == 0
    tables = _tables(capsys.readouterr().out)
    pasted = {row["search"]: row for row in next(
        rows for title, rows in tables.items() if title.startswith("Pasted objects"))}
    region = pasted["region (similar --region)"]
    assert 0.0 <= float(region["recall@10"]) <= 1.0
    # the crop finds photos that hold it, better than the whole-photo search does
    assert float(region["recall@10"]) >= float(pasted["whole photo (similar)"]["recall@10"])
    assert float(region["recall@10"]) > 0.3
    speed = next(rows for title, rows in tables.items() if title.startswith("Region search"))
    assert speed[0]["index"] == "FaissIndex" and speed[0]["photos"] == "3,000"
    # the faiss path works; its target (>= 0.9) is the 100k run's (benchmarks/README.md)
    assert float(speed[0]["recall@10 vs exact (>= 0.9)"].split()[0]) >= 0.6


def test_quality_layers_measures_the_products_two_layers() -> None:
    """benchmarks.quality_layers pools every candidate stage of one pass; the chosen stage and
    the last one are exactly the product's visual and semantic embeddings."""
    from benchmarks.quality_data import Item
    from benchmarks.quality_layers import STAGES, describe_stages
    from benchmarks.synthetic import scene
    from core import decode
    from core.embed.cnn import Embedder
    from core.embed.models import get_spec

    model = "efficientnet_lite0"
    items = [Item(f"s:{i}", lambda i=i: scene(300 + i)) for i in range(3)]
    pooled = describe_stages(model, "default", STAGES[model], items)
    assert [pooled[s].shape[1] for s in STAGES[model]] == [80, 112, 192, 320, 1280]
    arrays = [decode.model_input(item.make(), 224) for item in items]
    for layer, stage in (("semantic", STAGES[model][-1]), ("visual", get_spec(model).visual)):
        ours = pooled[stage] / np.linalg.norm(pooled[stage], axis=1, keepdims=True)
        product = Embedder(model, device="cpu", layer=layer).embed_arrays(arrays)
        np.testing.assert_allclose(ours, product, atol=1e-4)
