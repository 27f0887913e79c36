"""A generated library where one object (cut from another scene) is pasted into some photos at
known places, one of them stored turned and tagged with EXIF Orientation 6: for the region
search, heat map and ``predict --boxes`` tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from benchmarks import synthetic

Box = tuple[float, float, float, float]

SIZE = (640, 480)
OBJECT_PX = 150
# (x, y) of the object's top-left corner on the upright photo, inside the centre square the
# regions cover; the last one is written turned 90° with EXIF Orientation 6, on the corner of
# a region of the finest scale (so that a box found in the wrong orientation cannot pass)
PLACES = ((110, 40), (330, 250), (380, 60), (120, 280), (354, 137))


@dataclass(frozen=True)
class PastedLibrary:
    root: Path
    objects: dict[Path, Box]  # photo -> the object's box (relative, upright)
    plain: list[Path]  # photos without it
    rotated: Path  # the one stored turned, with EXIF Orientation 6


def the_object() -> Image.Image:
    """A distinctive object: a ringed target of saturated colours over a piece of scene."""
    piece = synthetic.scene(991, (OBJECT_PX, OBJECT_PX))
    draw = ImageDraw.Draw(piece)
    for k, colour in enumerate(((230, 30, 40), (250, 240, 240), (20, 60, 220), (250, 210, 0))):
        inset = 12 + 16 * k
        draw.ellipse((inset, inset, OBJECT_PX - inset, OBJECT_PX - inset), fill=colour)
    return piece


def write(folder: Path, n_plain: int = 6, seed: int = 700) -> PastedLibrary:
    """``len(PLACES)`` photos with the object and ``n_plain`` without, as JPEGs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    thing = the_object()
    objects: dict[Path, Box] = {}
    rotated = folder / "object_4_rotated.jpg"
    for k, (x, y) in enumerate(PLACES):
        photo = synthetic.scene(seed + k, SIZE)
        photo.paste(thing, (x, y))
        box = (x / SIZE[0], y / SIZE[1], OBJECT_PX / SIZE[0], OBJECT_PX / SIZE[1])
        if k == len(PLACES) - 1:  # stored turned: upright only once the EXIF tag is applied
            synthetic.write_jpeg(rotated, photo.transpose(Image.Transpose.ROTATE_90),
                                 exif_orientation=6)
            objects[rotated] = box
        else:
            path = folder / f"object_{k}.jpg"
            synthetic.write_jpeg(path, photo)
            objects[path] = box
    plain = []
    for k in range(n_plain):
        path = folder / f"plain_{k}.jpg"
        synthetic.write_jpeg(path, synthetic.scene(seed + 100 + k, SIZE))
        plain.append(path)
    return PastedLibrary(folder, objects, plain, rotated)


MODEL = "efficientnet_lite0"  # real ImageNet weights: random ones do not tell objects apart
SET_NAME = "thing"


@dataclass(frozen=True)
class PastedCatalog:
    """:class:`PastedLibrary` indexed with :data:`MODEL` (regions included) and a linear
    head of the label set ``thing`` ("object": the photos with it, "plain": the others)."""

    photos: PastedLibrary
    catalog: Path

    def copy(self, folder: Path) -> Path:
        """A private copy of the catalog (the photos stay shared: nothing writes them)."""
        import sqlite3

        target = folder / "catalog.sqlite"
        with sqlite3.connect(self.catalog) as conn:
            conn.execute("VACUUM INTO ?", (str(target),))
        return target


def indexed(base: Path) -> PastedCatalog:
    from core.jobs import run
    from core.labels import LabelStore
    from core.labels.review import train_and_predict
    from core.library import Library

    photos = write(base / "photos")
    catalog = base / "catalog.sqlite"
    with Library(photos.root, catalog_path=catalog, model=MODEL) as library:
        run(library.index())
        store = LabelStore(library.catalog)
        label_set = store.create_set(SET_NAME)
        found = store.add_label(label_set.id, "object")
        plain = store.add_label(label_set.id, "plain")
        store.assign(found.id, [library.photo_at(p).id for p in photos.objects])
        store.assign(plain.id, [library.photo_at(p).id for p in photos.plain])
        run(train_and_predict(library.catalog, label_set.id, library.model_key))
    return PastedCatalog(photos, catalog)
