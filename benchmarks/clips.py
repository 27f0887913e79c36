"""Video clips made from real photos, for the tests and ``benchmarks/video.py``.

A clip is a sequence of shots; each shot is a slow pan (left to right) across one photo, as
a phone sweeping over a scene. Encoded with PyAV (H.264 by libx264, keyframe every second as
phones do), so the tests and the benchmark read what the product reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SHARED_PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "photos"
# Three visually distinct real photos (hillside, flower, snowy wood) and a fourth (a church).
SHOT_PHOTOS = (
    "exif-samples/jpg/gps/DSCN0010.jpg",
    "exif-samples/jpg/Canon_PowerShot_S40.jpg",
    "exif-samples/jpg/Reconyx_HC500_Hyperfire.jpg",
    "exif-samples/jpg/gps/DSCN0040.jpg",
)
PAN = 1.25  # the photo is scaled to this many frame widths; the pan crosses the excess


@dataclass(frozen=True)
class Shot:
    """One shot of a made clip: the photo panned over, from ``start`` to ``end`` seconds."""

    photo: Path
    start: float
    end: float


def shot_photos(root: Path = SHARED_PHOTOS) -> list[Path]:
    """The real photos the clips are made of (they must exist)."""
    return [root / name for name in SHOT_PHOTOS]


def _pan_source(photo: Path, width: int, height: int) -> np.ndarray:
    """The photo scaled (cover) to PAN x the frame's width and at least its height."""
    with Image.open(photo) as im:
        rgb = im.convert("RGB")
    scale = max(PAN * width / rgb.width, height / rgb.height)
    size = (max(round(PAN * width), round(rgb.width * scale)),
            max(height, round(rgb.height * scale)))
    return np.asarray(rgb.resize(size, Image.Resampling.BILINEAR))


def make_clip(path: Path, photos: Sequence[Path], seconds_each: float | Sequence[float], *,
              size: tuple[int, int] = (160, 96), fps: int = 15, gop_s: float = 1.0,
              codec: str = "libx264", preset: str = "ultrafast", audio: bool = False,
              faststart: bool = False) -> list[Shot]:
    """Write a clip of one slow pan per photo to ``path`` (mp4/mov/mkv/mts by its suffix).

    ``seconds_each``: one duration for all shots or one per photo. ``faststart``: an
    MP4's index before its data (as web exports have it). Returns the shots.
    """
    import av

    width, height = size
    durations = ([float(seconds_each)] * len(photos) if isinstance(seconds_each, int | float)
                 else [float(s) for s in seconds_each])
    shots: list[Shot] = []
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = max(1, round(gop_s * fps))
        if codec == "libx264":
            stream.options = {"preset": preset}
        sound = out.add_stream("aac", rate=44100) if audio else None
        t = 0.0
        index = 0
        for photo, seconds in zip(photos, durations, strict=True):
            source = _pan_source(photo, width, height)
            n = max(1, round(seconds * fps))
            spare_x = source.shape[1] - width
            top = (source.shape[0] - height) // 2
            for i in range(n):
                left = round(spare_x * i / max(1, n - 1))
                crop = np.ascontiguousarray(source[top:top + height, left:left + width])
                frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
                frame.pts = index
                index += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
            shots.append(Shot(photo, t, t + n / fps))
            t += n / fps
        for packet in stream.encode(None):
            out.mux(packet)
        if sound is not None:
            _write_tone(out, sound, t)
    return shots


def make_audio_only(path: Path, seconds: float = 1.0) -> None:
    """An audio-only file (AAC tone) with a video file's name, e.g. ``voice.mp4``."""
    import av

    with av.open(str(path), "w") as out:
        _write_tone(out, out.add_stream("aac", rate=44100), seconds)


def _write_tone(out: object, stream: object, seconds: float) -> None:
    import av

    rate = 44100
    samples = np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate) * 0.2
    pcm = samples.astype(np.float32)
    step = 1024
    for i, start in enumerate(range(0, len(pcm), step)):
        chunk = pcm[start:start + step]
        if len(chunk) < step:
            chunk = np.pad(chunk, (0, step - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = i * step
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            out.mux(packet)  # type: ignore[attr-defined]
    for packet in stream.encode(None):  # type: ignore[attr-defined]
        out.mux(packet)  # type: ignore[attr-defined]
