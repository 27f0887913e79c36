"""Photo metadata for :mod:`core.decode`: :class:`ImageInfo`, EXIF orientation, capture date
and camera name. Import the public names from :mod:`core.decode`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from PIL import ExifTags, Image

log = logging.getLogger(__name__)

# (EXIF orientation 1..8, captured_at, camera), as read from one image's EXIF.
Metadata = tuple[int, str | None, str | None]
NO_METADATA: Metadata = (1, None, None)

# PIL transposition that displays an image stored with EXIF orientation N upright.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_CORPORATE = {"corporation", "corp", "co", "ltd", "co.,ltd", "co,ltd", "company", "inc",
              "limited", "imaging", "optical", "electric", "electronics", "gmbh", "ag"}
_DATE = re.compile(r"(\d{4})[:\-/.](\d\d)[:\-/.](\d\d)(?:[ T](\d\d):(\d\d):(\d\d))?")


@dataclass(frozen=True)
class ImageInfo:
    """Metadata of a photo; ``width``/``height`` are full resolution, orientation applied."""

    width: int
    height: int
    captured_at: str | None  # ISO 8601 'YYYY-MM-DDTHH:MM:SS'
    camera: str | None  # e.g. "Canon EOS 40D"


def image_info(size: tuple[int, int], metadata: Metadata) -> ImageInfo:
    """ImageInfo of an image stored at *size* (before orientation) with *metadata*."""
    orientation, captured, camera = metadata
    return ImageInfo(*oriented_size(size, orientation), captured, camera)


def orient(im: Image.Image, orientation: int) -> Image.Image:
    """*im* turned upright according to its EXIF *orientation*."""
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) once EXIF *orientation* is applied."""
    return (size[1], size[0]) if orientation >= 5 else size


def exif_metadata(im: Image.Image) -> Metadata:
    """(EXIF orientation 1..8, captured_at, camera); broken EXIF never makes a photo unreadable."""
    if im.format == "PNG" and "exif" not in im.info:
        return NO_METADATA  # an eXIf chunk after the pixels would need a full decode
    try:
        exif = im.getexif()
    except Exception:
        log.debug("unreadable EXIF", exc_info=True)
        return NO_METADATA
    orientation = exif.get(ExifTags.Base.Orientation)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    try:
        original = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
    except Exception:
        log.debug("unreadable EXIF sub-IFD", exc_info=True)
        original = None
    captured = _date(original) or _date(exif.get(ExifTags.Base.DateTime))
    return orientation, captured, _camera(exif.get(ExifTags.Base.Make),
                                          exif.get(ExifTags.Base.Model))


def _text(value: object) -> str | None:
    """A clean one-line EXIF string: cut at NUL, whitespace collapsed, None if empty."""
    if isinstance(value, bytes):
        raw = value
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
    if not isinstance(value, str):
        return None
    return " ".join(value.split("\x00", 1)[0].split()) or None


def _date(value: object) -> str | None:
    text = _text(value)
    found = _DATE.match(text) if text else None
    if found is None:
        return None
    try:
        y, mo, d, h, mi, s = (int(part or 0) for part in found.groups())
        moment = datetime(y, mo, d, h, mi, s)
    except ValueError:  # 0000:00:00 00:00:00 and other placeholders
        return None
    return moment.isoformat(timespec="seconds") if moment.year >= 1826 else None


def _camera(make_value: object, model_value: object) -> str | None:
    """Make and model without repeating the make: "Canon EOS 40D", "NIKON D70"."""
    make, model = _text(make_value), _text(model_value)
    if make:
        words = make.split()
        while len(words) > 1 and words[-1].lower().strip(",.") in _CORPORATE:
            words.pop()
        make = " ".join(words)
    if not make or not model:
        return model or make
    if model.split()[0].lower() in {word.lower() for word in make.split()}:
        return model
    return f"{make} {model}"


# -- what a photographer reads first: exposure, lens, position, keywords -------------------

_GPS_REF = {"N": 1, "S": -1, "E": 1, "W": -1}
_SUBJECT = re.compile(rb"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(rb"<rdf:li[^>]*>([^<]*)</rdf:li>")


def shooting_details(im: Image.Image) -> list[tuple[str, str]]:
    """(label, value) lines from *im*'s EXIF and XMP: exposure, aperture, ISO, focal length,
    lens, GPS position and keywords; lines whose tag is absent or broken are left out."""
    lines: list[tuple[str, str]] = []
    try:
        exif = im.getexif()
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        log.debug("unreadable EXIF", exc_info=True)
        exif, sub, gps = None, {}, {}
    for label, text in (
        ("Exposure", _exposure(sub.get(ExifTags.Base.ExposureTime))),
        ("Aperture", _number(sub.get(ExifTags.Base.FNumber), "f/{:.1f}")),
        ("ISO", _iso(sub.get(ExifTags.Base.ISOSpeedRatings))),
        ("Focal length", _focal(sub.get(ExifTags.Base.FocalLength),
                                sub.get(ExifTags.Base.FocalLengthIn35mmFilm))),
        ("Lens", _text(sub.get(ExifTags.Base.LensModel))),
        ("GPS", gps_text(gps)),
        ("Keywords (file)", ", ".join(xmp_keywords(im)) or None),
    ):
        if text:
            lines.append((label, text))
    return lines


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) \
        else None


def _number(value: object, fmt: str) -> str | None:
    number = _float(value)
    return fmt.format(number).replace(".0", "") if number and number > 0 else None


def _exposure(value: object) -> str | None:
    seconds = _float(value)
    if not seconds or seconds <= 0:
        return None
    if seconds < 0.5:
        return f"1/{round(1 / seconds)} s"
    return f"{seconds:g} s"


def _iso(value: object) -> str | None:
    if isinstance(value, tuple):
        value = value[0] if value else None
    number = _float(value)
    return f"ISO {int(number)}" if number and number > 0 else None


def _focal(value: object, equivalent: object) -> str | None:
    mm = _float(value)
    if not mm or mm <= 0:
        return None
    text = f"{mm:g} mm"
    eq = _float(equivalent)
    if eq and eq > 0 and round(eq) != round(mm):
        text += f" ({eq:g} mm in 35 mm terms)"
    return text


def gps_position(gps: object) -> tuple[float, float] | None:
    """(latitude, longitude) in degrees from an EXIF GPS IFD, or None."""
    if not isinstance(gps, dict):
        return None
    try:
        lat = _degrees(gps[2]) * _GPS_REF[_text(gps[1]) or "N"]
        lon = _degrees(gps[4]) * _GPS_REF[_text(gps[3]) or "E"]
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lat, lon


def gps_text(gps: object) -> str | None:
    position = gps_position(gps)
    if position is None:
        return None
    lat, lon = position
    return f"{abs(lat):.5f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.5f}° {'E' if lon >= 0 else 'W'}"


def _degrees(dms: object) -> float:
    d, m, s = (float(part) for part in dms)  # type: ignore[attr-defined]
    return d + m / 60 + s / 3600


def xmp_keywords(im: Image.Image) -> list[str]:
    """The XMP ``dc:subject`` keywords embedded in *im* (Lightroom, Photoshop, …)."""
    packet = im.info.get("xmp")
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if not isinstance(packet, bytes):
        return []
    found = _SUBJECT.search(packet)
    if found is None:
        return []
    words = (_text(item.strip()) for item in _LI.findall(found.group(1)))
    return list(dict.fromkeys(word for word in words if word))
