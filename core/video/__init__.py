"""Video clips: which files are clips, decoding them (PyAV, imported lazily), keeping one
frame per scene, the pass that embeds them, and the catalog's clip tables.

A clip is one item of the library (a row of ``photos``: one tile, one content hash) whose
kept frames are searched: a search ranks a clip by its best frame and names the moment.
"""

from core.video.formats import VIDEO_EXTENSIONS, is_video
from core.video.indexer import ClipResult, clock, index_clips
from core.video.scenes import SceneOptions
from core.video.store import ClipFrame, clip_frames, durations, frame_thumbnail_key

__all__ = ["VIDEO_EXTENSIONS", "ClipFrame", "ClipResult", "SceneOptions", "clip_frames",
           "clock", "durations", "frame_thumbnail_key", "index_clips", "is_video"]
