"""Video clips (issue 22): indexed by their scenes, found by similarity with the moment.

The clips are made here from real photos (``benchmarks/clips.py``: a slow pan across photo
A for 3 s, then B, then C, H.264 by PyAV at 160 x 96) and indexed with resnet50 (random
weights: near-identical pictures still rank first; pinned, the default model may change).
"""

from __future__ import annotations

import json
import shutil
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.clips import Shot, make_audio_only, make_clip, shot_photos
from cli import main
from core.errors import Cancelled
from core.jobs import run
from core.labels import LabelStore
from core.library import Library
from core.video import clip_frames, clock, durations, is_video, store
from core.video.reader import ClipDecoder, probe

SHOT_S = 3.0


@dataclass
class ClipLibrary:
    root: Path
    catalog: Path
    clip: Path
    shots: list[Shot]

    def open(self) -> Library:
        return Library(self.root, catalog_path=self.catalog, weights="none", model="resnet50")


def _bad_files(root: Path, good_clip: Path) -> None:
    """A truncated clip, an audio-only file and a zero-byte .mp4."""
    data = good_clip.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    make_audio_only(root / "voice.m4v")
    (root / "empty.mp4").write_bytes(b"")


@pytest.fixture(scope="module")
def clip_library(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> ClipLibrary:
    base = tmp_path_factory.mktemp("clips")
    root = base / "library"
    root.mkdir()
    a, b, c, d = shot_photos(shared_photos)
    clip = root / "walk.mp4"
    shots = make_clip(clip, [a, b, c], SHOT_S)
    shutil.copy2(d, root / "church.jpg")
    _bad_files(root, clip)
    catalog = base / "catalog.sqlite"
    lib = ClipLibrary(root, catalog, clip, shots)
    with lib.open() as library:
        run(library.index())
    return lib


def test_video_files_are_recognised_by_name() -> None:
    for name in ("a.mp4", "b.MOV", "c.m4v", "d.mkv", "e.avi", "f.webm", "g.MTS", "h.m2ts"):
        assert is_video(name), name
    assert not is_video("photo.jpg") and not is_video("notes.txt")


def test_a_clip_keeps_one_frame_per_shot(clip_library: ClipLibrary) -> None:
    with clip_library.open() as library:
        clip = library.photo_at(clip_library.clip)
        assert clip is not None and clip.content_hash
        frames = clip_frames(library.catalog, clip.id, library.model_key)
        assert [shot_index(clip_library.shots, f.time) for f in frames] == [0, 1, 2]
        assert durations(library.catalog)[clip.id] == pytest.approx(3 * SHOT_S, abs=0.2)
        assert library.catalog.embedded_count(library.model_key) == 2  # the clip, the photo


def test_bad_clips_are_problems_with_reasons_and_the_rest_is_indexed(
        clip_library: ClipLibrary) -> None:
    with clip_library.open() as library:
        problems = {p.path.name: p.reason for p in library.catalog.problems()}
        indexed = {p.path.name for p in library.catalog.photos()}
    assert problems == {
        "truncated.mp4": "video file is damaged or incomplete (truncated?) and cannot be decoded",
        "voice.m4v": "no video track (an audio-only file?)",
        "empty.mp4": "file is empty",
    }
    assert indexed == {"walk.mp4", "church.jpg"}


def test_a_search_by_b_finds_the_clip_at_bs_shot(clip_library: ClipLibrary,
                                                 tmp_path: Path) -> None:
    query = tmp_path / "b.jpg"  # outside the library
    shutil.copy2(clip_library.shots[1].photo, query)
    with clip_library.open() as library:
        _, hits = library.similar_to_file(query, k=5)
    assert [h.photo_id for h in hits].count(hits[0].photo_id) == 1
    top = hits[0]
    assert top.time is not None and shot_index(clip_library.shots, top.time) == 1
    with clip_library.open() as library:
        assert library.catalog.photo(top.photo_id).path == clip_library.clip  # type: ignore[union-attr]
        # From the clip itself, at C's moment: the clip never finds itself.
        assert all(h.photo_id != top.photo_id
                   for h in library.similar_to_moment(top.photo_id, 7.0, k=5))


def test_similar_prints_the_moment(clip_library: ClipLibrary, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    query = tmp_path / "c.jpg"
    shutil.copy2(clip_library.shots[2].photo, query)
    args = [str(clip_library.root), str(query), "--model", "resnet50", "--weights", "none",
            "--catalog", str(clip_library.catalog)]
    assert main(["similar", *args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    clip_row = next(r for r in rows if r["path"].endswith("walk.mp4"))
    assert isinstance(clip_row["time"], float)
    assert shot_index(clip_library.shots, clip_row["time"]) == 2
    assert all("time" not in r for r in rows if r["path"].endswith(".jpg"))
    assert main(["similar", *args]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "walk.mp4" in x)
    assert line.endswith(f"at {clock(clip_row['time'])}") and clock(65.4) == "01:05"


def test_a_moved_clip_keeps_its_frames_and_labels(clip_library: ClipLibrary,
                                                  tmp_path: Path) -> None:
    root = tmp_path / "library"
    shutil.copytree(clip_library.root, root, copy_function=shutil.copy2)
    catalog = tmp_path / "catalog.sqlite"
    shutil.copy2(clip_library.catalog, catalog)
    with Library(root, catalog_path=catalog, weights="none", model="resnet50") as library:
        clip = library.photo_at(root / "walk.mp4")
        assert clip is not None
        before = clip_frames(library.catalog, clip.id, library.model_key)
        labels = LabelStore(library.catalog)
        walk = labels.ensure_label(labels.ensure_set("outing").id, "walk")
        labels.assign(walk.id, [clip.id])
    (root / "2024").mkdir()
    (root / "walk.mp4").rename(root / "2024" / "walk.mp4")
    with Library(root, catalog_path=catalog, weights="none", model="resnet50") as library:
        result = run(library.index())
        assert (result.scan.moved, result.embed.embedded, result.embed.frames) == (1, 0, 0)
        moved = library.photo_at(root / "2024" / "walk.mp4")
        assert moved is not None and moved.id == clip.id
        assert clip_frames(library.catalog, moved.id, library.model_key) == before
        assert LabelStore(library.catalog).photos_with(walk.id) == [moved.id]


def test_a_clip_with_rare_keyframes_is_decoded_whole(shared_photos: Path,
                                                     tmp_path: Path) -> None:
    a, b, _c, _d = shot_photos(shared_photos)
    clip = tmp_path / "screen.mkv"
    shots = make_clip(clip, [a, b], 4.0, gop_s=20.0)  # one keyframe in 8 s
    decoder = ClipDecoder(clip, every=1.0)
    times = [f.time for f in decoder]
    assert not decoder.keyframes_only
    assert len(times) == 8 and {shot_index(shots, t) for t in times} == {0, 1}


def test_a_container_that_lies_about_its_duration(shared_photos: Path,
                                                  tmp_path: Path) -> None:
    """A Matroska clip whose header claims 10 times its length: indexed, its duration is
    the frames' (the header would make a 9 s clip a 1:30 one), and a problem entry says so."""
    root = tmp_path / "library"
    root.mkdir()
    made = tmp_path / "made.mkv"
    make_clip(made, shot_photos(shared_photos)[:3], SHOT_S)
    clip = root / "liar.mkv"
    clip.write_bytes(_stretch_mkv_duration(made.read_bytes(), 10))
    assert probe(clip).duration == pytest.approx(10 * 3 * SHOT_S, rel=0.05)
    with Library(root, catalog_path=tmp_path / "c.sqlite", weights="none",
                 model="resnet50") as library:
        run(library.index())
        item = library.photo_at(clip)
        assert item is not None
        duration = durations(library.catalog)[item.id]
        assert duration == pytest.approx(3 * SHOT_S, abs=0.2)
        assert [p.reason for p in library.catalog.problems()] == [
            f"its header says it lasts 01:30 but its pictures end at {clock(duration)} "
            f"(incomplete, or a wrong header); indexed up to {clock(duration)}"]
        assert len(clip_frames(library.catalog, item.id, library.model_key)) == 3


def test_a_truncated_clip_that_partly_decodes_is_indexed_so_far_with_a_problem(
        shared_photos: Path, tmp_path: Path) -> None:
    """Cut at 60 %: an MP4 with its index in front (its last packet broken) and an AVCHD-like
    MPEG-TS clip (ending mid-packet) keep the frames before the cut, and each has a problem
    entry saying how far it decoded. A whole copy put in its place is read again, and its
    problem goes."""
    root = tmp_path / "library"
    root.mkdir()
    whole: dict[str, bytes] = {}
    for name, faststart in (("cut.mp4", True), ("cut.mts", False)):
        made = tmp_path / name
        shots = make_clip(made, shot_photos(shared_photos)[:3], SHOT_S, faststart=faststart)
        whole[name] = made.read_bytes()
        (root / name).write_bytes(whole[name][: len(whole[name]) * 6 // 10])
    with Library(root, catalog_path=tmp_path / "c.sqlite", weights="none",
                 model="resnet50") as library:
        run(library.index())
        problems = {p.path.name: p.reason for p in library.catalog.problems()}
        for name in whole:
            clip = library.photo_at(root / name)
            assert clip is not None, name  # still indexed, as far as it goes
            frames = clip_frames(library.catalog, clip.id, library.model_key)
            assert [shot_index(shots, f.time) for f in frames] == [0, 1], name
            decoded = durations(library.catalog)[clip.id]
            assert SHOT_S < decoded < 2 * SHOT_S, name
            assert problems[name].startswith(
                f"incomplete video (truncated?): decoded to {clock(decoded)}"), problems[name]
            assert problems[name].endswith("; indexed as far as it goes")
        assert " of 00:09;" in problems["cut.mp4"]  # its index says 9 s
        (root / "cut.mp4").write_bytes(whole["cut.mp4"])
        run(library.index())
        assert [p.path.name for p in library.catalog.problems()] == ["cut.mts"]
        clip = library.photo_at(root / "cut.mp4")
        assert clip is not None and len(clip_frames(library.catalog, clip.id,
                                                    library.model_key)) == 3


def test_a_cancelled_pass_resumes_inside_the_clip(shared_photos: Path,
                                                  tmp_path: Path) -> None:
    photos = shot_photos(shared_photos)
    root = tmp_path / "library"
    root.mkdir()
    shots = make_clip(root / "long.mov", photos * 2, 2.0)  # 8 shots, 16 s
    cancel = threading.Event()
    with Library(root, catalog_path=tmp_path / "c.sqlite", weights="none",
                 model="resnet50") as library:
        job = library.index(cancel)
        with pytest.raises(Cancelled):
            for progress in job:  # cancel once frames inside the clip are committed
                clip = library.photo_at(root / "long.mov")
                if progress.phase == "video" and clip is not None:
                    resume = store.resume_point(library.catalog, clip.id, library.model_key)
                    if resume is not None and resume.frames:
                        cancel.set()
        assert clip is not None
        resume = store.resume_point(library.catalog, clip.id, library.model_key)
        assert resume is not None and 0 <= resume.decoded_to < shots[-1].start
        kept_before = clip_frames(library.catalog, clip.id, library.model_key)
        assert kept_before
        result = run(library.index())
        assert result.embed.clips == 1
        after = clip_frames(library.catalog, clip.id, library.model_key)
    assert after[:len(kept_before)] == kept_before  # nothing redone
    assert [shot_index(shots, f.time) for f in after] == list(range(len(shots)))


def shot_index(shots: list[Shot], time: float) -> int:
    """Which shot a time falls in."""
    return next(i for i, s in enumerate(shots) if s.start - 1e-3 <= time < s.end)


def _stretch_mkv_duration(data: bytes, factor: int) -> bytes:
    """The Matroska file with its Segment Duration (EBML id 0x4489, a float) multiplied."""
    out = bytearray(data)
    at = out.find(b"\x44\x89")
    size = out[at + 2] & 0x0F
    fmt = ">d" if size == 8 else ">f"
    (value,) = struct.unpack(fmt, out[at + 3:at + 3 + size])
    out[at + 3:at + 3 + size] = struct.pack(fmt, value * factor)
    return bytes(out)


def test_a_head_labels_a_clip_by_time_ranges(clip_library: ClipLibrary, tmp_path: Path) -> None:
    """Photos of B and C labelled "flower" and "snow", a head trained on them: the clip has
    "flower" over B's shot and "snow" over C's, in the info lines and the exported CSV."""
    from PIL import Image

    from core.labels.heads import train
    from core.video.labels import clip_label_lines, export_ranges_csv, label_ranges

    root = tmp_path / "library"
    root.mkdir()
    shutil.copy2(clip_library.clip, root / "walk.mp4")
    names = {"flower": clip_library.shots[1].photo, "snow": clip_library.shots[2].photo}
    for name, photo in names.items():
        with Image.open(photo) as im:
            w, h = im.size
            for i, box in enumerate([(0, 0, w * 3 // 4, h), (w // 4, 0, w, h),
                                     (0, h // 8, w, h * 7 // 8)]):
                im.convert("RGB").crop(box).save(root / f"{name}{i}.jpg", quality=90)
    with Library(root, catalog_path=tmp_path / "c.sqlite", weights="none",
                 model="resnet50") as library:
        run(library.index())
        labels = LabelStore(library.catalog)
        scene = labels.ensure_set("scene")
        for name in names:
            label = labels.ensure_label(scene.id, name)
            labels.assign(label.id, [p.id for p in library.catalog.photos()
                                     if p.path.name.startswith(name)])
        run(train(library.catalog, scene.id, library.model_key))
        clip = library.photo_at(root / "walk.mp4")
        assert clip is not None
        ranges = label_ranges(library.catalog, scene.id, library.model_key, clip.id)
        lines = clip_label_lines(library.catalog, library.model_key, clip.id)
        rows = export_ranges_csv(library.catalog, tmp_path / "ranges.csv", scene.id,
                                 library.model_key)
    by_label = {r.label: r for r in ranges if r.start >= SHOT_S}
    assert (by_label["flower"].start, by_label["flower"].end) == (SHOT_S, 2 * SHOT_S)
    assert (by_label["snow"].start, by_label["snow"].end) == (2 * SHOT_S, 3 * SHOT_S)
    assert lines[0][0] == "scene" and "flower 00:03–00:06" in lines[0][1]
    assert "snow 00:06–00:09" in lines[0][1]
    csv_text = (tmp_path / "ranges.csv").read_text()
    assert rows == len(ranges) and "walk.mp4,flower,3.0,6.0,00:03,00:06," in csv_text
    _clip_labels_go_to_its_sidecar(root, tmp_path / "c.sqlite", ranges)


def _clip_labels_go_to_its_sidecar(root: Path, catalog: Path, ranges: list) -> None:
    """``predict --clip-xmp``: walk.xmp gets the labels as keywords and the ranges as xmpDM
    markers in a "Lookalike: scene" track, merged (another program's track and keyword
    stay); the clip is not touched; a second run changes nothing."""
    from core import xmp
    from core.video.xmp import Marker, read_tracks, set_track

    sidecar = root / "walk.xmp"
    xmp.merge_into_sidecar(sidecar, add_keywords=["holiday"], edit=lambda ex, data: (
        set_track(ex, data, "Editor cuts", [Marker("cut 1", 1.0, 0.5)])))
    clip_bytes = (root / "walk.mp4").read_bytes()
    args = ["predict", str(root), "--set", "scene", "--clip-xmp", "-q", "--model", "resnet50",
            "--weights", "none", "--catalog", str(catalog)]
    assert main(args) == 0
    record = xmp.read_sidecar(sidecar)
    assert {"holiday", "flower", "snow"} <= set(record.keywords)
    assert {"scene|flower", "scene|snow"} <= set(record.hierarchy)
    tracks = read_tracks(record)
    assert list(tracks) == ["Editor cuts", "Lookalike: scene"]
    assert tracks["Editor cuts"] == [Marker("cut 1", 1.0, 0.5)]
    assert [(m.name, m.start, m.duration) for m in tracks["Lookalike: scene"]] == [
        (r.label, r.start, r.end - r.start) for r in ranges]
    assert all(0.5 <= (m.probability or 0) <= 1 for m in tracks["Lookalike: scene"])
    assert record.properties["Xmp.xmpDM.Tracks[2]/xmpDM:frameRate"] == "f1000"
    before = sidecar.read_bytes()
    assert main(args) == 0
    assert sidecar.read_bytes() == before and (root / "walk.mp4").read_bytes() == clip_bytes


def test_a_rebuilt_catalog_keeps_the_clips_frames(clip_library: ClipLibrary,
                                                  tmp_path: Path) -> None:
    from core.catalog.rebuild import rebuild

    catalog = tmp_path / "catalog.sqlite"
    with clip_library.open() as library:
        library.catalog.conn.execute("VACUUM INTO ?", (str(catalog),))
        clip = library.photo_at(clip_library.clip)
        assert clip is not None
        frames = clip_frames(library.catalog, clip.id, library.model_key)
    result = rebuild(clip_library.root, catalog)
    assert result.rows["frames"] == len(frames) and result.rows["clips"] == 1
    with Library(clip_library.root, catalog_path=catalog, weights="none",
                 model="resnet50") as library:
        assert clip_frames(library.catalog, clip.id, library.model_key) == frames
        assert [c.id for c in library.catalog.missing_embeddings(library.model_key)] == []


def test_the_faces_pass_leaves_clips_alone(clip_library: ClipLibrary) -> None:
    """The faces pass decodes photos whole: a clip (not an image, maybe gigabytes) is not
    given to it."""
    from core.faces.job import photos_to_scan

    with clip_library.open() as library:
        names = {Path(path).name for _id, path, _hash in photos_to_scan(library.catalog)}
    assert names == {"church.jpg"}


def test_the_map_shows_a_clip_as_its_kept_frames(clip_library: ClipLibrary,
                                                 tmp_path: Path) -> None:
    """One point per kept frame, each tied to the clip and its time; B's frame sits nearest
    to a photo of B; the stored map reads back the same, and is current."""
    import numpy as np

    from core.map import compute_map, load_map

    root = tmp_path / "library"
    shutil.copytree(clip_library.root, root, copy_function=shutil.copy2)
    shutil.copy2(clip_library.shots[1].photo, root / "b.jpg")
    catalog = tmp_path / "catalog.sqlite"
    shutil.copy2(clip_library.catalog, catalog)
    with Library(root, catalog_path=catalog, weights="none", model="resnet50") as library:
        run(library.index())
        clip, b = library.photo_at(root / "walk.mp4"), library.photo_at(root / "b.jpg")
        assert clip is not None and b is not None
        frames = clip_frames(library.catalog, clip.id, library.model_key)
        result = run(compute_map(library.catalog, library.model_key))
        stored = load_map(library.catalog, library.model_key)
        again = run(compute_map(library.catalog, library.model_key))
    assert len(result) == 2 + len(frames) == 5  # church, b, the clip's three frames
    rows = np.flatnonzero(result.ids == clip.id)
    assert [result.time_at(int(k)) for k in rows] == [f.time for f in frames]
    b_row = int(np.flatnonzero(result.ids == b.id)[0])
    assert result.time_at(b_row) is None
    assert result.describe() == "3 photos and clips (3 clip frames)"
    distance = np.linalg.norm(result.xy - result.xy[b_row], axis=1)
    distance[b_row] = np.inf
    nearest = int(np.argmin(distance))
    assert result.ids[nearest] == clip.id
    assert shot_index(clip_library.shots, result.time_at(nearest)) == 1  # type: ignore[arg-type]
    assert stored is not None and again.how == "cached"
    order = np.argsort(result.keys)  # type: ignore[arg-type]
    back = np.argsort(stored.keys)  # type: ignore[arg-type]
    assert np.array_equal(result.ids[order], stored.ids[back])
    assert np.allclose(result.xy[order], stored.xy[back])
    assert np.array_equal(np.isnan(result.times[order]),  # type: ignore[index]
                          np.isnan(stored.times[back]))  # type: ignore[index]
