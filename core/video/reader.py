"""Reading video clips with PyAV (FFmpeg inside its wheel): the only module that opens them.

Frames are decoded streaming and downscaled as they come (FFmpeg's scaler writes the small
RGB picture straight from the decoded frame), so a two-hour clip never holds more than the
decoder's few reference frames and one small picture. Where the clip has keyframes often
enough (every camera and phone clip: 0.5-2 s), only keyframes are decoded
(``skip_frame="NONKEY"``: the other frames are not even reconstructed); a clip with rare
keyframes (screen recordings, some encoders' 10 s GOPs) is decoded whole and sampled.

Every failure becomes :class:`~core.errors.UnreadableImage` with a reason in plain words:
an empty file, no video track (audio only), a codec FFmpeg cannot decode, a damaged file.
``av`` is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import UnreadableImage

log = logging.getLogger(__name__)

KEYFRAME_GAP_S = 4.0  # keyframes at most this far apart on average: decode only keyframes
PROBE_PACKETS = 600  # packets demuxed (not decoded) to measure the keyframe interval
MAX_BAD_PACKETS = 50  # packets that fail to decode before the clip counts as damaged

EMPTY = "file is empty"
NO_VIDEO = "no video track (an audio-only file?)"
DAMAGED = "video file is damaged or incomplete (truncated?) and cannot be decoded"
NO_FRAMES = "no picture could be decoded from this video (damaged or incomplete?)"
TS_PACKET_SIZES = (188, 192)  # MPEG-TS (.mts, .ts) and M2TS (.m2ts) packets


@dataclass(frozen=True)
class ClipInfo:
    """What the container says about a clip (duration checked against the frames later)."""

    duration: float  # seconds, as the container claims (0 when it does not say)
    width: int
    height: int
    codec: str
    fps: float


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its time in seconds and a small RGB picture (shorter side ``side``)."""

    time: float
    pixels: NDArray[np.uint8]  # (h, w, 3)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn PyAV's failures into UnreadableImage with a reason in plain words."""
    import av

    try:
        yield
    except UnreadableImage:
        raise
    except FileNotFoundError:
        raise UnreadableImage(path, "file disappeared during the scan") from None
    except PermissionError:
        raise UnreadableImage(path, "permission denied: Lookalike may not read this file") from None
    except av.error.InvalidDataError:
        raise UnreadableImage(path, DAMAGED) from None
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        log.debug("cannot read %s", path, exc_info=True)
        raise UnreadableImage(path, f"cannot read this video ({exc})") from exc


def _open(path: Path) -> Any:
    import av

    if path.stat().st_size == 0:
        raise UnreadableImage(path, EMPTY)
    container = av.open(str(path), metadata_errors="ignore")
    try:
        if not container.streams.video:
            raise UnreadableImage(path, NO_VIDEO)
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec is None or codec.codec is None or not codec.codec.is_decoder:
            raise UnreadableImage(path, "its video codec cannot be decoded by Lookalike")
        if not stream.width or not stream.height:
            raise UnreadableImage(
                path, f"its video codec ({codec.name}) is not supported, or the file is damaged")
    except BaseException:
        container.close()
        raise
    return container


def _info(container: Any) -> ClipInfo:
    stream = container.streams.video[0]
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    return ClipInfo(max(0.0, duration), int(stream.width), int(stream.height),
                    str(stream.codec_context.name), float(rate) if rate else 0.0)


def probe(path: Path) -> ClipInfo:
    """The clip's header: duration, size, codec. Raises UnreadableImage."""
    path = Path(path)
    with _reading(path):
        container = _open(path)
        try:
            return _info(container)
        finally:
            container.close()


def _keyframes_suffice(path: Path) -> bool:
    """Whether the clip's keyframes come at most every KEYFRAME_GAP_S seconds on average,
    from the first PROBE_PACKETS packets (demuxed, not decoded, in a container of its own)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        times: list[float] = []
        count = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            count += 1
            if packet.is_keyframe:
                times.append(float(packet.pts * stream.time_base))
            if count >= PROBE_PACKETS:
                break
    finally:
        container.close()
    if len(times) < 2:
        return False
    return float(np.mean(np.diff(sorted(times)))) <= KEYFRAME_GAP_S


class ClipDecoder:
    """Decode a clip from ``start`` seconds: iterate for small RGB frames in time order, at
    most one every ``every`` seconds, shorter side ``side`` pixels.

    Keyframes only where they come often enough, else every frame is decoded and sampled.
    Packets that fail to decode are skipped (a damaged stretch); a clip from which nothing
    decodes raises UnreadableImage, as does one that cannot be opened. After the iteration,
    :attr:`end` is where the stream's data really ends (containers may claim otherwise), and
    :attr:`cut` whether the data was seen to break off (a packet the demuxer marks corrupt,
    one that fails to decode after good ones, an MPEG-TS file ending mid-packet): the clip
    is incomplete, and decoded as far as it goes.
    ``fast``: decode keyframes without the deblocking filter (invisible at 256 px; the
    viewer's stills keep it).
    """

    def __init__(self, path: Path, *, side: int = 256, start: float = 0.0,
                 every: float = 0.5, fast: bool = True) -> None:
        self.path = Path(path)
        self.fast = fast  # keyframes without the deblocking filter (~8 % less CPU)
        self.side = side
        self.start = start
        self.every = every
        self.end = start
        self.keyframes_only = False
        self.cut = False

    def __iter__(self) -> Iterator[VideoFrame]:
        with _reading(self.path):
            container = _open(self.path)
        try:
            with _reading(self.path):
                yield from self._frames(container)
        finally:
            container.close()

    def _frames(self, container: Any) -> Iterator[VideoFrame]:
        import av

        path, start = self.path, self.start
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        self.keyframes_only = _keyframes_suffice(path)
        if self.keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
            if self.fast:  # no frame refers to a keyframe decoded here: no error spreads
                stream.codec_context.options = {"skip_loop_filter": "all"}
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        scale = self.side / min(stream.width, stream.height)
        width = max(2, round(stream.width * scale / 2) * 2)
        height = max(2, round(stream.height * scale / 2) * 2)
        base = stream.time_base
        last = -np.inf
        decoded = bad = 0
        keyframes_only = self.keyframes_only
        self.cut = _ts_cut_short(container, path)
        for packet in container.demux(stream):
            if packet.is_corrupt and packet.size:
                self.cut = True
            if packet.pts is not None and base is not None:
                self.end = max(self.end, float((packet.pts + (packet.duration or 0)) * base))
                if keyframes_only and (not packet.is_keyframe
                                       or float(packet.pts * base) - last < self.every - 1e-6):
                    continue  # a keyframe decodes alone: feed only those that are wanted
            try:
                got = packet.decode()
            except av.error.EOFError:
                break
            except av.error.FFmpegError as exc:
                bad += 1
                self.cut = self.cut or decoded > 0
                log.debug("%s: skipping a damaged packet: %s", path, exc)
                if bad > MAX_BAD_PACKETS and not decoded:
                    raise UnreadableImage(path, NO_FRAMES) from None
                continue
            for frame in got:
                if frame.time is None:
                    continue
                t = float(frame.time)
                decoded += 1
                if t < start - 1e-3 or t - last < self.every - 1e-6:
                    continue
                last = t
                pixels = frame.to_ndarray(width=width, height=height, format="rgb24",
                                          interpolation="AREA")
                yield VideoFrame(t, pixels)
        if not decoded and start <= 0:
            raise UnreadableImage(path, NO_FRAMES)


def _ts_cut_short(container: Any, path: Path) -> bool:
    """Whether an MPEG-TS file ends inside a packet (it was cut: camera, copy)."""
    if "mpegts" not in str(container.format.name):
        return False
    size = path.stat().st_size
    return all(size % n for n in TS_PACKET_SIZES)
