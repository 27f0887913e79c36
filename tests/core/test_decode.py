"""core.decode on real camera files (../shared/photos) and on broken files built here."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from benchmarks import synthetic
from core.decode import (
    MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    Decoded,
    decode_file,
    file_hash,
    load_image,
    make_thumbnail,
    model_input,
    read_info,
)
from core.errors import UnreadableImage

ORIENTATION = "exif-samples/jpg/orientation"


def _small(image: Image.Image, size: tuple[int, int] = (32, 24)) -> np.ndarray:
    """A tiny float copy for comparing pictures regardless of their resolution."""
    if image.height > image.width:
        size = size[::-1]
    return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.float32)


def _check_sane(decoded: Decoded, path: Path) -> None:
    image, info = decoded.image, decoded.info
    assert image.mode == "RGB"
    assert 0 < image.width <= info.width and 0 < image.height <= info.height
    assert abs(image.width / image.height - info.width / info.height) < 0.05 * (
        info.width / info.height)
    assert min(image.size) >= min(256, info.width, info.height)
    assert decoded.size == path.stat().st_size
    assert decoded.content_hash == file_hash(path)
    assert float(np.asarray(image).std()) > 5, "decoded to a flat picture"


# --- the shared camera files -------------------------------------------------------------


def test_every_shared_file_decodes_or_is_refused(shared_photos: Path) -> None:
    refused = {}
    files = sorted(p for p in shared_photos.rglob("*") if p.is_file())
    assert len(files) > 60
    for path in files:
        assert path.suffix.lower() in SUPPORTED_EXTENSIONS, path
        try:
            decoded = decode_file(path)
        except UnreadableImage as e:
            assert e.path == path and e.reason
            refused[path.name] = e.reason
            continue
        _check_sane(decoded, path)
        assert read_info(path) == decoded.info
    assert set(refused) == {"corrupted.jpg"}
    assert "damaged" in refused["corrupted.jpg"]


def test_heic_decodes_with_its_metadata(shared_photos: Path) -> None:
    path = shared_photos / "exif-samples/heic/IMG_5195.HEIC"
    decoded = decode_file(path)
    assert (decoded.info.width, decoded.info.height) == (2566, 3313)
    assert decoded.info.camera == "Apple iPhone 11 Pro Max"
    assert decoded.info.captured_at == "2021-04-11T15:47:53"
    assert 256 <= min(decoded.image.size) < 512
    assert load_image(path, max_side=400).size == (310, 400)


def test_raw_with_a_non_ascii_name_decodes(shared_photos: Path) -> None:
    path = shared_photos / "raw" / "RAW_KODAK_DC50_é.KDC"
    decoded = decode_file(path)
    _check_sane(decoded, path)
    assert (decoded.info.width, decoded.info.height) == (768, 512)
    assert decoded.info.camera == "Kodak Digital Science DC50 Zoom Camera"
    assert decoded.info.captured_at == "1997-04-23T08:00:47"
    assert read_info(path) == decoded.info
    assert load_image(path).size == (768, 512)


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
def test_the_8_exif_orientations_look_the_same(shared_photos: Path, kind: str) -> None:
    decoded = [decode_file(shared_photos / ORIENTATION / f"{kind}_{i}.jpg") for i in range(1, 9)]
    assert len({(d.info.width, d.info.height) for d in decoded}) == 1
    assert len({d.image.size for d in decoded}) == 1
    reference = _small(decoded[0].image)
    mirrored = float(np.abs(reference[:, ::-1] - reference).mean())
    for d in decoded[1:]:
        diff = float(np.abs(_small(d.image) - reference).mean())
        assert diff < 4, diff  # colour-managed: the ICC-tagged variants match the untagged one
        assert diff < mirrored / 5


def test_canon_40d_metadata(shared_photos: Path) -> None:
    info = read_info(shared_photos / "exif-samples/jpg/Canon_40D.jpg")
    assert info.camera == "Canon EOS 40D"
    assert info.captured_at == "2008-05-30T15:56:01"  # DateTimeOriginal, not DateTime
    assert (info.width, info.height) == (100, 68)


@pytest.mark.parametrize(
    ("name", "camera"),
    [
        ("Nikon_D70.jpg", "NIKON D70"),  # make "NIKON CORPORATION"
        ("Kodak_CX7530.jpg", "KODAK CX7530 ZOOM DIGITAL CAMERA"),
        ("Konica_Minolta_DiMAGE_Z3.jpg", "KONICA MINOLTA DiMAGE Z3"),
        ("Pentax_K10D.jpg", "PENTAX K10D"),  # padded with spaces
        ("exif-org/sony-cybershot.jpg", "SONY CYBERSHOT"),  # padded with NULs
        ("exif-org/sanyo-vpcg250.jpg", "SANYO SR6"),  # make "SANYO Electric Co.,Ltd."
        ("PaintTool_sample.jpg", None),
    ],
)
def test_camera_names_are_clean(shared_photos: Path, name: str, camera: str | None) -> None:
    assert read_info(shared_photos / "exif-samples/jpg" / name).camera == camera


# --- broken files --------------------------------------------------------------------------


def _jpeg_bytes(seed: int = 1, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    synthetic.scene(seed).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _bomb_png() -> bytes:
    """A tiny PNG whose header claims 30000 x 30000 pixels (CRC fixed up)."""
    data = bytearray(_png_bytes(Image.new("RGB", (8, 8), "red")))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", 30000, 30000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _ended_early(data: bytes) -> bytes:
    """Scan data cut short but closed with an EOI marker: libjpeg paints the rest grey."""
    return data[: len(data) * 2 // 3] + b"\xff\xd9"


BAD_FILES = {
    "empty.jpg": (b"", "empty"),
    "truncated.jpg": (_cut(_jpeg_bytes()), "truncated"),
    "truncated.png": (_cut(_png_bytes(synthetic.scene(2))), "damaged"),
    "ended-early.jpg": (_ended_early(_jpeg_bytes()), "damaged"),
    "text.jpg": (b"this is not a photo\n" * 20, "not an image"),
    "random.png": (np.random.default_rng(0).bytes(5000), "not an image"),
    "bomb.png": (_bomb_png(), "too large"),
    "raw-that-is-not.nef": (b"II*\x00" + bytes(200), "not a readable RAW"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_unreadable_image(tmp_path: Path, name: str) -> None:
    data, words = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    for read in (decode_file, load_image):
        with pytest.raises(UnreadableImage) as caught:
            read(path)
        assert caught.value.path == path
        assert words in caught.value.reason, caught.value.reason
        assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "name", ["empty.jpg", "text.jpg", "random.png", "bomb.png", "raw-that-is-not.nef"])
def test_read_info_refuses_bad_headers(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name][0])
    with pytest.raises(UnreadableImage, match=BAD_FILES[name][1]):
        read_info(path)


def test_a_decompression_bomb_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png())
    start = time.perf_counter()
    with pytest.raises(UnreadableImage, match=r"too large to read safely \(900 megapixels\)"):
        decode_file(path)
    assert time.perf_counter() - start < 1.0
    assert MAX_PIXELS < 30000 * 30000


def test_missing_file_and_folder(tmp_path: Path) -> None:
    for read in (decode_file, load_image, read_info, file_hash):
        with pytest.raises(UnreadableImage, match="disappeared"):
            read(tmp_path / "nowhere.jpg")
        with pytest.raises(UnreadableImage, match="folder"):
            read(tmp_path)


# --- decoding ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4000 x 3000 JPEG stored sideways: EXIF Orientation 6."""
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    synthetic.write_jpeg(path, synthetic.big_photo(3, megapixels=12), quality=85,
                         exif_orientation=6)
    return path


def test_big_jpeg_is_draft_decoded(big_jpeg: Path) -> None:
    decoded = decode_file(big_jpeg, min_side=256)
    assert (decoded.info.width, decoded.info.height) == (3000, 4000)  # full size, upright
    assert decoded.image.width < decoded.image.height
    assert 256 <= min(decoded.image.size) <= 512
    assert decoded.content_hash == hashlib.blake2b(
        big_jpeg.read_bytes(), digest_size=16).hexdigest()


def test_load_image_fits_max_side(big_jpeg: Path) -> None:
    image = load_image(big_jpeg, max_side=1000)
    assert image.size == (750, 1000)
    assert image.mode == "RGB"


def test_non_jpeg_is_reduced_to_about_min_side(tmp_path: Path) -> None:
    path = tmp_path / "wide.tiff"
    synthetic.scene(4, (2000, 1500)).save(path)
    decoded = decode_file(path, min_side=200)
    assert 200 <= min(decoded.image.size) < 400
    assert (decoded.info.width, decoded.info.height) == (2000, 1500)


def _modes() -> dict[str, Image.Image]:
    grey16 = Image.fromarray(np.full((60, 80), 40000, dtype=np.uint16))
    rgba = Image.new("RGBA", (80, 60), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 40, 60))  # left half fully transparent
    palette = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    return {"grey16.png": grey16, "rgba.png": rgba, "palette.gif": palette,
            "la.png": rgba.convert("LA"), "cmyk.jpg": rgba.convert("RGB").convert("CMYK"),
            "grey.jpg": rgba.convert("L"), "bilevel.bmp": rgba.convert("1")}


@pytest.mark.parametrize("name", sorted(_modes()))
def test_every_mode_becomes_rgb(tmp_path: Path, name: str) -> None:
    image = _modes()[name]
    path = tmp_path / name
    image.save(path)
    decoded = decode_file(path)
    assert decoded.image.mode == "RGB" and decoded.image.size == (80, 60)
    pixels = np.asarray(decoded.image, dtype=np.int16)
    if name == "grey16.png":
        assert abs(int(pixels.mean()) - 40000 // 257) <= 1  # scaled, not clipped to white
    if name in ("rgba.png", "la.png"):
        assert (pixels[:, :30] >= 250).all()  # transparent: composited on white


def test_gif_gives_its_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    r, _, b = np.asarray(decode_file(path).image).reshape(-1, 3).mean(axis=0)
    assert r > 200 and b < 50


def test_icc_profiles_are_converted_to_srgb(shared_photos: Path, tmp_path: Path) -> None:
    with Image.open(shared_photos / ORIENTATION / "landscape_2.jpg") as tagged:
        generic_rgb = tagged.info["icc_profile"]  # Apple's "Generic RGB Profile"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    image = synthetic.scene(8, (320, 240))
    image.save(tmp_path / "generic.png", icc_profile=generic_rgb)
    image.save(tmp_path / "srgb.png", icc_profile=srgb.tobytes())

    converted = np.asarray(decode_file(tmp_path / "generic.png").image, dtype=np.int16)
    expected = ImageCms.profileToProfile(
        image, ImageCms.ImageCmsProfile(io.BytesIO(generic_rgb)), srgb, outputMode="RGB")
    assert np.abs(converted - np.asarray(expected, dtype=np.int16)).max() <= 1
    assert np.abs(converted - np.asarray(image, dtype=np.int16)).mean() > 3
    unchanged = decode_file(tmp_path / "srgb.png").image
    assert np.array_equal(np.asarray(unchanged), np.asarray(image))


def test_garbage_exif_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "odd.jpg"
    synthetic.write_jpeg(path, synthetic.scene(5), exif={
        "DateTimeOriginal": "0000:00:00 00:00:00", "DateTime": "2019:02:03 04:05:06",
        "Make": "Canon\x00\x00", "Model": "   ", "Orientation": 9})
    info = read_info(path)
    assert info.captured_at == "2019-02-03T04:05:06"  # falls back to DateTime
    assert info.camera == "Canon"
    assert (info.width, info.height) == (640, 480)  # orientation 9 means nothing


def test_threads_give_the_same_results(tmp_path: Path) -> None:
    paths = synthetic.write_library(tmp_path, 3, n_variants=3, size=(320, 240))
    files = [p for group in paths.values() for p in group]
    alone = [decode_file(p) for p in files]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(decode_file, files))
    for a, b in zip(alone, together, strict=True):
        assert a.content_hash == b.content_hash and a.info == b.info
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


# --- thumbnails and model input ------------------------------------------------------------


@pytest.mark.parametrize(("size", "expected"), [((640, 480), (256, 192)),
                                                ((300, 600), (128, 256)),
                                                ((100, 50), (100, 50))])
def test_make_thumbnail(size: tuple[int, int], expected: tuple[int, int]) -> None:
    data = make_thumbnail(synthetic.scene(6, size), size=256)
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == expected


@pytest.mark.parametrize("size", [(640, 480), (300, 600), (100, 50), (224, 224)])
def test_model_input(size: tuple[int, int]) -> None:
    image = synthetic.scene(7, size)
    array = model_input(image)
    assert array.shape == (224, 224, 3) and array.dtype == np.uint8
    assert np.array_equal(array, model_input(image))
    assert array.flags.c_contiguous and array.flags.writeable
    assert model_input(image.convert("L"), size=64).shape == (64, 64, 3)
