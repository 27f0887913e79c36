"""A photo library: one folder, its catalog, one model, and the jobs over them.

This is the object the CLI and the GUI hold: they build it once, run its jobs (scan,
embed) from a thread, and ask it for similar photos.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core import thumbnails as thumbcache
from core.catalog import Catalog, Photo
from core.embed import EmbedResult, embed_missing
from core.embed.models import (
    DEFAULT_LAYER,
    DEFAULT_MODEL,
    MODELS,
    check_layer,
    key_layer,
    model_key,
)
from core.errors import FolderNotFound, UnreadableImage
from core.faces import FacesResult, FaceStore, find_faces
from core.files import why_not_a_folder
from core.index import Hit, rocchio
from core.jobs import Job, Progress
from core.labels import LabelStore
from core.regions import Box, RegionSearch, missing_regions
from core.regions.describe import RegionWriter
from core.regions.store import drop_older_format, pending_count
from core.scan import ScanResult, scan
from core.search import Searcher
from core.video import SceneOptions, index_clips, is_video
from core.video import store as clip_store
from core.video.indexer import moment_pixels

if TYPE_CHECKING:
    from PIL.Image import Image

    from core.embed.cnn import Embedder

# catalog meta keys: what it was indexed with (no "layer": the semantic layer)
MODEL_META, WEIGHTS_META, LAYER_META = "model", "weights", "layer"


@dataclass(frozen=True)
class IndexResult:
    """The outcome of ``lookalike index``: the scan, then the embedding pass."""

    scan: ScanResult
    embed: EmbedResult


def decode_model_input(pixels: NDArray[np.uint8], embedder: Embedder) -> NDArray[np.uint8]:
    """A decoded frame as the model's input (resized, centre-cropped)."""
    from PIL import Image

    from core.decode import model_input

    return model_input(Image.fromarray(pixels), embedder.input_size)


def remembered_model(
    catalog: Catalog,
    model: str | None,
    weights: str | Path | None,
    default_model: str = DEFAULT_MODEL,
    default_weights: str | Path = "default",
) -> tuple[str, str | Path]:
    """The (model, weights) to use: those asked for, else those the catalog remembers, else
    the defaults. Remembered weights go with the remembered model only."""
    known_model = catalog.get_meta(MODEL_META)
    known_weights = catalog.get_meta(WEIGHTS_META) or "default"
    if known_model is None and (model is None or weights is None):
        # a catalog from before: the model most of its embeddings are from
        known_model, known_weights = _most_embedded(catalog) or (None, "default")
    if model is None:
        if known_model in MODELS:
            model = known_model
            weights = known_weights if weights is None else weights
        else:
            model = default_model
            weights = default_weights if weights is None else weights
    elif weights is None:
        weights = known_weights if model == known_model else default_weights
    return model, weights


def remembered_layer(catalog: Catalog, layer: str | None) -> str:
    """The layer to use: the one asked for, else the one the catalog remembers, else the
    semantic layer. ModelUnavailable names the layers for an unknown one."""
    return check_layer(layer or catalog.get_meta(LAYER_META) or DEFAULT_LAYER)


def _most_embedded(catalog: Catalog) -> tuple[str, str] | None:
    """(model, weights) of the model key with the most embeddings, if its weights can be
    named again (pretrained or random; a file's path is not in its key)."""
    for key, _count in sorted(catalog.embedding_counts().items(), key=lambda kv: -kv[1]):
        name, _, tag = key_layer(key)[0].partition("@")
        if name in MODELS and tag == MODELS[name].weights:
            return name, "default"
        if name in MODELS and tag == "random0":
            return name, "none"
    return None


def remember_model(catalog: Catalog, model: str, weights: str | Path | None,
                   layer: str = DEFAULT_LAYER) -> None:
    """Record ``model``, ``weights`` and ``layer`` as the ones the library is indexed with."""
    if weights is not None and str(weights).lower() not in ("default", "pretrained", "none"):
        weights = os.path.abspath(weights)  # a file: valid from any working directory
    wanted = (model, str(weights or "default"), layer)
    known = (catalog.get_meta(MODEL_META), catalog.get_meta(WEIGHTS_META),
             catalog.get_meta(LAYER_META) or DEFAULT_LAYER)
    if known == wanted:
        return  # nothing to write (a read-only catalog stays readable)
    with catalog.transaction() as tx:
        catalog.set_meta(MODEL_META, model, tx)
        catalog.set_meta(WEIGHTS_META, str(weights or "default"), tx)
        catalog.set_meta(LAYER_META, layer, tx)


class Library:
    """A library folder opened with one model. Close it (or use ``with``) when done.

    The catalog remembers the model, weights and layer it was last indexed with
    (:meth:`index`): ``model=None`` uses those (else ``default_model``/``default_weights``),
    ``weights=None`` the remembered weights when ``model`` is the remembered model, and
    ``layer=None`` the remembered layer (else "semantic"; see core.embed.models.LAYERS).
    """

    def __init__(
        self,
        root: Path,
        *,
        catalog_path: Path | None = None,
        model: str | None = None,
        weights: str | Path | None = None,
        device: str | None = "auto",
        create: bool = True,
        lock: bool = False,
        default_model: str = DEFAULT_MODEL,
        default_weights: str | Path = "default",
        layer: str | None = None,
    ) -> None:
        root = Path(root).expanduser()
        why = why_not_a_folder(root)
        if why:
            raise FolderNotFound(root, why)
        self.catalog = Catalog.open(root, catalog_path, create=create, lock=lock)
        try:
            with self.catalog.faults():
                model, weights = remembered_model(self.catalog, model, weights,
                                                  default_model, default_weights)
                layer = remembered_layer(self.catalog, layer)
            self.model_key = model_key(model, weights, layer=layer)
        except BaseException:
            self.catalog.close()
            raise
        self.model_name = model
        self.weights = weights
        self.layer = layer
        self.device = device
        self.root = self.catalog.root
        self.searcher = Searcher(self.catalog, self.model_key)
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()
        self.video_options = SceneOptions()  # how many frames a clip keeps (Preferences)

    @functools.cached_property
    def labels(self) -> LabelStore:
        """The library's label sets (one store; its changes emit ``catalog.changed``)."""
        return LabelStore(self.catalog)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The CNN, loaded on first use (it may download weights: ModelUnavailable)."""
        with self._embedder_lock:
            if self._embedder is None:  # torch is loaded only if the network needs it
                from core.embed.cnn import Embedder

                self._embedder = Embedder(self.model_name, self.weights, self.device,
                                          layer=self.layer)
            return self._embedder

    @functools.cached_property
    def regions(self) -> RegionSearch:
        """Search by a region of a photo over the library's stored regions."""
        return RegionSearch(self.catalog, self.model_key)

    @property
    def people(self) -> FaceStore:
        """The people of this library (faces, persons, corrections)."""
        return FaceStore(self.catalog)

    # -- jobs ------------------------------------------------------------------------------

    # Catalog failures (damaged, disk full, read-only) surface as CatalogError: see
    # Catalog.faults.

    def scan(self, cancel: threading.Event | None = None) -> Job[ScanResult]:
        with self.catalog.faults():
            return (yield from scan(self.catalog, cancel))

    def embed(self, cancel: threading.Event | None = None, **options: int) -> Job[EmbedResult]:
        """Embed the photos that have no embedding yet (the model is loaded only if there
        are some), then the video clips' kept frames, then keep the thumbnail cache within
        its size limit (core.thumbnails). The catalog remembers the model and weights: the
        library's commands use them unless told otherwise."""
        with self.catalog.faults():
            remember_model(self.catalog, self.model_name, self.weights, self.layer)
            drop_older_format(self.catalog, self.model_key)  # then described again below
            if (self.catalog.embedded_count(self.model_key) >= self.catalog.photo_count()
                    and not missing_regions(self.catalog, self.model_key)
                    and not pending_count(self.catalog, self.model_key)):
                # nothing to embed; a region whitening due again (a pass stopped while it
                # was learned) is learned now, without loading the model
                regions = RegionWriter(self.catalog, self.model_key)
                note = regions.due(final=True)
                if note:
                    yield Progress("embedding", 0, 0, note)
                    regions.flush(final=True)
                return EmbedResult(0, 0, 0.0)
            embedder = self.embedder
            photos = yield from embed_missing(self.catalog, embedder, cancel, **options)
            clips = yield from index_clips(self.catalog, embedder, cancel, self.video_options)
        result = EmbedResult(photos.embedded + clips.clips, photos.failed + clips.failed,
                             photos.seconds + clips.seconds, clips.clips, clips.frames,
                             photos.described)
        if result.embedded:
            thumbcache.prune()
        return result

    def embed_layer(self, layer: str, cancel: threading.Event | None = None
                    ) -> Job[EmbedResult]:
        """Embed every photo with ``layer`` of the library's model (its own embedding set;
        the library's current vectors stay in use meanwhile), then remember ``layer`` as the
        library's: a library opened afterwards searches with it. Cancelled, it keeps what
        is done and remembers nothing."""
        check_layer(layer)
        from core.embed.cnn import Embedder

        embedder = (self.embedder if layer == self.layer
                    else Embedder(self.model_name, self.weights, self.device, layer=layer))
        with self.catalog.faults():
            photos = yield from embed_missing(self.catalog, embedder, cancel)
            clips = yield from index_clips(self.catalog, embedder, cancel, self.video_options)
            remember_model(self.catalog, self.model_name, self.weights, layer)
        return EmbedResult(photos.embedded + clips.clips, photos.failed + clips.failed,
                           photos.seconds + clips.seconds, clips.clips, clips.frames,
                           photos.described)

    def index(self, cancel: threading.Event | None = None) -> Job[IndexResult]:
        """Scan the folder, then embed what is new or changed."""
        scanned = yield from self.scan(cancel)
        embedded = yield from self.embed(cancel)
        return IndexResult(scanned, embedded)

    def faces(self, cancel: threading.Event | None = None,
              workers: int | None = None) -> Job[FacesResult]:
        """Find the faces of the photos not looked at yet and group them (core.faces)."""
        with self.catalog.faults():
            return (yield from find_faces(self.catalog, cancel, workers=workers))

    # -- queries (a damaged catalog raises CatalogError, as in the jobs) -------------------

    def similar(self, positives: list[int], negatives: list[int] | tuple[int, ...] = (),
                k: int = 20) -> list[Hit]:
        """Photos most like ``positives`` (and least like ``negatives``), best first."""
        with self.catalog.faults():
            return self.searcher.similar(positives, negatives, k)

    def photo_at(self, path: Path) -> Photo | None:
        """The library's record of the file at ``path``, if it is one of its photos."""
        path = Path(os.path.abspath(path))
        rel = os.path.relpath(path, self.root)
        if rel.startswith(os.pardir):
            return None
        with self.catalog.faults():
            return self.catalog.photo_by_path(path)

    def embed_file(self, path: Path, at: float | None = None) -> NDArray[np.float32]:
        """The embedding of any image file, from the catalog if it is a library photo; of a
        video clip, the moment ``at`` seconds (default: its poster frame)."""
        if is_video(path):
            return self.embed_moment(path, at)
        photo = self.photo_at(path)
        if photo is not None:
            try:
                with self.catalog.faults():
                    return self.searcher.vectors([photo.id])[0]
            except KeyError:
                pass
        return self.embedder.embed_file(Path(path))

    def embed_moment(self, path: Path, at: float | None = None) -> NDArray[np.float32]:
        """The embedding of a clip at ``at`` seconds: its kept frame nearest to it if the clip
        is indexed, else the frame decoded there (an outside clip). Raises UnreadableImage."""
        clip = self.photo_at(path)
        if clip is not None:
            with self.catalog.faults():
                frame = clip_store.nearest_frame(self.catalog, clip.id, self.model_key, at or 0.0)
                if frame is not None:
                    return clip_store.frame_vector(self.catalog, frame.frame_id)
        pixels = moment_pixels(Path(path), at or 0.0)
        return self.embedder.embed_arrays([decode_model_input(pixels, self.embedder)])[0]

    def similar_to_file(self, path: Path, negatives: Sequence[int] = (), k: int = 20,
                        at: float | None = None) -> tuple[int | None, list[Hit]]:
        """Photos and clips most like the image file at ``path`` (inside the library or not;
        for a video clip, its moment ``at`` seconds) and least like the photos
        ``negatives``, best first.

        Returns the file's own photo id when it is one of the library's photos (it is left out
        of the hits), and the hits. Raises UnreadableImage, ModelUnavailable or CatalogError.
        """
        photo = self.photo_at(path)
        vector = self.embed_file(path, at)
        with self.catalog.faults():
            negative_vectors = self.searcher.vectors(list(negatives)) if negatives else None
            query = rocchio(vector[None, :], negative_vectors)
            exclude = set(negatives) | ({photo.id} if photo else set())
            return (photo.id if photo else None), self.searcher.by_vector(query, k,
                                                                          exclude=exclude)

    def similar_to_region(self, path: Path, box: Box, k: int = 20, *, refine: int = 50
                          ) -> tuple[int | None, list[Hit]]:
        """Photos ranked by their region most like ``box`` (x, y, w, h relative to the
        upright photo) of the image file at ``path`` (inside the library or not), best first;
        each hit's ``box`` is its best-matching region. The best ``refine`` photos are read
        and ranked again on their visual maps, with finer boxes anywhere in the photo
        (core.regions.refine).

        Returns the file's own photo id when it is one of the library's photos (it is left out
        of the hits), and the hits. Raises ValueError for an empty box, LookupError before
        any region is stored, UnreadableImage, ModelUnavailable or CatalogError.
        """
        from core.regions.search import image_of

        photo = self.photo_at(path)
        with self.catalog.faults():
            self.regions.reduction()  # LookupError before anything is loaded
        embedder = self.embedder
        image = image_of(Path(path), embedder)
        with self.catalog.faults():
            hits = self.regions.by_image(embedder, image, box, k,
                                         exclude={photo.id} if photo else set(),
                                         open_photos=self._region_images, refine=refine)
        return (photo.id if photo else None), hits

    def _region_images(self, photo_ids: list[int]) -> Iterator[Image | None]:
        """Library photos' upright images for region search, in order (None for one that
        cannot be read): decoded by a pool of threads, each yielded as soon as it and those
        before it are ready, so that the caller's work on one overlaps the next decodes."""
        from core.embed.pipeline import decode_workers
        from core.regions.search import image_of

        embedder = self.embedder
        found = [self.catalog.photo(i) for i in photo_ids]  # the catalog in this thread

        def read(path: Path) -> Image | None:
            try:
                return image_of(path, embedder)
            except UnreadableImage:
                return None

        with ThreadPoolExecutor(decode_workers(), thread_name_prefix="region-read") as pool:
            futures = [pool.submit(read, p.path) if p is not None else None for p in found]
            try:
                for future in futures:
                    yield future.result() if future is not None else None
            finally:
                for future in futures:
                    if future is not None:
                        future.cancel()

    def similar_to_moment(self, clip_id: int, at: float, k: int = 20) -> list[Hit]:
        """Photos and clips most like a library clip at ``at`` seconds (its nearest kept
        frame): "Find similar" from the viewer's current position. KeyError if the clip
        has no kept frame for this model yet."""
        with self.catalog.faults():
            frame = clip_store.nearest_frame(self.catalog, clip_id, self.model_key, at)
            if frame is None:
                raise KeyError(f"clip {clip_id} has no kept frame for {self.model_key} yet")
            vector = clip_store.frame_vector(self.catalog, frame.frame_id)
            return self.searcher.by_vector(vector, k, exclude={clip_id})
