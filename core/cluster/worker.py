"""What runs on a Ray cluster's workers: the local pipeline's decode and CNN, a batch at a time.

Ray Data calls these as ``map_batches`` functions on batches of ``{"id", "path"}`` columns
(numpy arrays; a path is the file name's bytes, read on the worker through the shared file
system). :func:`decode_batch` reads each photo with :func:`core.embed.pipeline.read_for_model`
(the same function the local pipeline's threads call) and makes its thumbnail JPEG;
:class:`EmbedBatch` runs :class:`core.embed.cnn.Embedder` on the model inputs. Their output
is plain columns the driver writes to the catalog (:mod:`core.cluster.driver`): a photo that
cannot be read has its ``reason`` set and zeros elsewhere, and the batch goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core.decode import make_thumbnail
from core.embed.models import SEMANTIC, get_spec, is_pretrained
from core.embed.onnx_engine import THREADS_ENV, OnnxNet, onnx_outputs
from core.embed.outputs import TOP_CLASSES, Outputs
from core.embed.pipeline import failure_reason, read_for_model
from core.regions.describe import describe
from core.thumbnails import THUMBNAIL_SIZE

if TYPE_CHECKING:
    from core.embed.cnn import Embedder

Batch = dict[str, NDArray]


def decode_batch(batch: Batch, input_size: int) -> Batch:
    """Read the batch's photos: ``id``, ``reason`` ("" when read), ``hash``, ``width``,
    ``height``, ``captured_at`` and ``camera`` ("" for none), ``thumbnail`` (JPEG bytes) and
    ``pixels`` (the model inputs, ``(n, size, size, 3)`` uint8)."""
    n = len(batch["id"])
    text = {name: np.full(n, "", dtype=object) for name in
            ("reason", "hash", "captured_at", "camera")}
    sizes = np.zeros((n, 2), dtype=np.int64)
    upright = np.zeros((n, 2), dtype=np.int64)  # of the decoded image: where its regions are
    thumbs = np.full(n, b"", dtype=object)
    pixels = np.zeros((n, input_size, input_size, 3), dtype=np.uint8)
    for i, raw in enumerate(batch["path"]):
        path = Path(os.fsdecode(bytes(raw)))
        try:
            decoded, meta, pixels[i] = read_for_model(path, input_size)
            upright[i] = decoded.image.size
            thumbs[i] = make_thumbnail(decoded.image, THUMBNAIL_SIZE)
        except Exception as exc:  # noqa: BLE001 - one photo's problem, the batch goes on
            text["reason"][i] = failure_reason(exc) or "could not be read"
            continue
        text["hash"][i] = meta.content_hash
        text["captured_at"][i] = meta.captured_at or ""
        text["camera"][i] = meta.camera or ""
        sizes[i] = meta.width, meta.height
    return {"id": np.asarray(batch["id"], dtype=np.int64), **text, "width": sizes[:, 0],
            "height": sizes[:, 1], "upright": upright, "thumbnail": thumbs, "pixels": pixels}


class EmbedBatch:
    """A Ray Data actor: loads the CNN once, then embeds batch after batch (decoding them
    first when they come as paths). ``threads``: the CPU threads it may use (its share).

    ``layer``: the embedding's layer (core.embed.models.LAYERS).
    ``onnx``: the driver's export of a Lite model's layer (core.embed.onnx_engine), run here under
    ONNX Runtime as the local pipeline runs it on a CPU, without loading torch; else the
    model is built here (:class:`core.embed.cnn.Embedder`, e.g. on a GPU).
    """

    def __init__(self, model: str, weights: str, device: str, threads: int,
                 onnx: bytes | None = None, layer: str = SEMANTIC) -> None:
        os.environ[THREADS_ENV] = str(max(1, threads))
        self.spec = get_spec(model)
        self.dim = self.spec.layer_dim(layer)
        self.classify = is_pretrained(weights)  # random weights name no real classes
        self.net: OnnxNet | None = None
        self.embedder: Embedder | None = None
        if onnx is not None:
            self.net = OnnxNet(onnx, max(1, threads))
        else:
            from core.embed.cnn import Embedder  # torch: in the worker only

            self.embedder = Embedder(model, weights, device, layer=layer)

    def run(self, arrays: list[NDArray[np.uint8]]) -> Outputs:
        """The batch's model inputs through the network."""
        if self.net is not None:
            if not arrays:
                return Outputs(np.zeros((0, self.dim), dtype=np.float32))
            return onnx_outputs(self.net, self.spec, arrays, self.classify, maps=True)
        assert self.embedder is not None
        return self.embedder.run_arrays(arrays, maps=True)

    def __call__(self, batch: Batch) -> Batch:
        if "pixels" not in batch:
            batch = decode_batch(batch, self.spec.input_size)
        read = np.asarray([not r for r in batch["reason"]], dtype=bool)
        n = len(read)
        out = self.run(list(batch["pixels"][read]))
        vectors = np.zeros((n, self.dim), dtype=np.float32)
        vectors[read] = out.vectors
        classes = np.full((n, TOP_CLASSES), -1, dtype=np.int64)
        probs = np.zeros((n, TOP_CLASSES), dtype=np.float32)
        if out.classes is not None and out.probs is not None:
            classes[read], probs[read] = out.classes, out.probs
        result = {name: column for name, column in batch.items() if name != "pixels"}
        regions = region_columns(out, batch["upright"][read], read)
        return {**result, "vector": vectors, "classes": classes, "probs": probs, **regions}


def region_columns(out: Outputs, sizes: NDArray[np.int64], read: NDArray[np.bool_]
                   ) -> dict[str, NDArray]:
    """The region descriptors of the read photos of a batch (core.regions.describe), pooled
    here from the same pass's feature maps, for the driver to reduce and store:
    ``region_boxes`` ``(n, R, 4)`` float32 and ``region_raw`` ``(n, R, channels)`` float16
    (zeros for a photo not read)."""
    if out.maps is None:  # no photo of the batch could be read
        return {"region_raw": np.zeros((len(read), 0, 0), np.float16),
                "region_boxes": np.zeros((len(read), 0, 4), np.float32)}
    raw, boxes = describe(out.maps, [(int(w), int(h)) for w, h in sizes])
    n = len(read)
    all_raw = np.zeros((n, *raw.shape[1:]), np.float16)
    all_boxes = np.zeros((n, raw.shape[1], 4), np.float32)
    all_raw[read] = raw
    if len(boxes):
        all_boxes[read] = np.stack(boxes)
    return {"region_raw": all_raw, "region_boxes": all_boxes}
