"""Reading photos: formats (Pillow, HEIF, RAW), EXIF orientation and metadata, pixels to sRGB.

Callers import from here; :mod:`~core.decode.reader` is the entry point, the other modules its
parts (:mod:`~core.decode.formats`, :mod:`~core.decode.exif`, :mod:`~core.decode.pixels`).
"""

from core.decode.exif import ImageInfo
from core.decode.reader import (
    MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    Decoded,
    decode_file,
    file_hash,
    load_image,
    make_thumbnail,
    model_input,
    read_details,
    read_info,
)

__all__ = ["MAX_PIXELS", "SUPPORTED_EXTENSIONS", "Decoded", "ImageInfo", "decode_file",
           "file_hash", "load_image", "make_thumbnail", "model_input", "read_details",
           "read_info"]
