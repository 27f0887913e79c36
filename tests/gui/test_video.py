"""A video clip in the app: one tile with its duration; a search hit shows its best frame and
moment; the viewer plays the clip from that moment (QtMultimedia) and the arrow keys step
its kept frames."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from benchmarks.clips import make_clip, shot_photos
from gui.dialogs.preferences import PreferencesDialog
from gui.grid import Roles
from gui.grid.delegate import clip_caption
from gui.settings import ModelChoice, Settings

from .conftest import OpenWindow, wait_indexed


def test_a_clip_hit_opens_at_its_moment(open_window: OpenWindow, qtbot: QtBot,
                                        shared_photos: Path, tmp_path: Path) -> None:
    a, b, c, d = shot_photos(shared_photos)
    root = tmp_path / "library"
    root.mkdir()
    shots = make_clip(root / "walk.mp4", [a, b, c], 2.0)
    shutil.copy2(d, root / "church.jpg")
    query = tmp_path / "b.jpg"  # outside the library
    shutil.copy2(b, query)
    window = open_window(str(root), "--catalog", str(tmp_path / "catalog.sqlite"),
                         "--model", "resnet50")
    wait_indexed(qtbot, window)
    library = window.context.library
    assert library is not None
    clip = library.photo_at(root / "walk.mp4")
    assert clip is not None

    window.search.search_file(query)
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=20_000)
    model = window.library_view.model
    at = model.time(clip.id)
    assert at is not None and shots[1].start <= at < shots[1].end
    index = model.index(model.row_of(clip.id), 0)
    model.cache.image(clip.id)  # as painting the tile does
    qtbot.waitUntil(lambda: index.data(Roles.DURATION) is not None)
    assert index.data(Roles.TIME) == at
    assert clip_caption(index.data(Roles.DURATION), at) == "▶ 00:02 / 00:06"

    viewer = window.open_viewer(clip.id)
    assert viewer is not None
    assert viewer.moment == at and viewer.strip.isVisible()
    assert viewer.strip.count() == 3 and viewer.strip.currentRow() == 1
    player = viewer.player  # QtMultimedia, Qt's FFmpeg backend: it plays from the moment
    assert player is not None and player.isVisible() and not viewer.view.isVisible()
    qtbot.waitUntil(lambda: player.is_playing() and player.position() > 0, timeout=10_000)
    assert at - 0.1 <= player.position() < shots[1].end  # from B's moment, not the start
    qtbot.waitUntil(lambda: player.position() > at + 0.2, timeout=10_000)  # it plays on
    frame = player.video.videoSink().videoFrame()  # pictures reach the video widget
    assert frame.isValid() and (frame.width(), frame.height()) == (160, 96)
    assert viewer.moment is not None and viewer.moment > at  # "Find similar" takes this
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # the next kept frame: C's
    assert viewer.strip.currentRow() == 2
    qtbot.waitUntil(lambda: shots[2].start <= player.position() < shots[2].end,
                    timeout=10_000)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.strip.currentRow() == 0
    qtbot.waitUntil(lambda: player.position() < shots[0].end and player.is_playing(),
                    timeout=10_000)
    qtbot.keyClick(viewer, Qt.Key.Key_P)  # pause
    qtbot.waitUntil(lambda: not player.is_playing())
    times = list(viewer.strip.times)
    viewer.close()
    assert player.player.source().isEmpty()  # the file is let go
    cache = window.library_view.cache  # the map draws a clip's points as their own frames
    qtbot.waitUntil(lambda: all(cache.frame_pixmap(clip.id, t, 64) for t in times))
    pictures = [cache.frame_pixmap(clip.id, t, 64).toImage() for t in times]  # type: ignore[union-attr]
    assert pictures[0] != pictures[1] and pictures[1] != pictures[2]
    assert cache.name(clip.id) == "walk.mp4"


def test_the_clip_settings_go_from_preferences_to_the_library(
        open_window: OpenWindow, qtbot: QtBot, settings: Settings, tmp_path: Path) -> None:
    dialog = PreferencesDialog(ModelChoice("resnet50", "none", "cpu"), None, settings.video_options)
    qtbot.addWidget(dialog)
    assert (dialog.gap_box.value(), dialog.frames_box.value()) == (2.0, 200)  # the defaults
    dialog.gap_box.setValue(5.0)
    dialog.frames_box.setValue(12)
    settings.video_options = dialog.video_options()
    root = tmp_path / "empty"
    root.mkdir()
    window = open_window(str(root), "--catalog", str(tmp_path / "catalog.sqlite"))
    qtbot.waitUntil(lambda: window.context.library is not None)
    options = window.context.library.video_options  # type: ignore[union-attr]
    assert (options.min_gap, options.max_frames) == (5.0, 12)
