"""What photographers read first, from real camera files: exposure, aperture, ISO, focal
length, GPS position, XMP keywords; absent or broken tags are left out."""

from __future__ import annotations

from pathlib import Path

from core.decode import read_details


def test_shooting_details_of_real_camera_files(shared_photos: Path) -> None:
    jpg = shared_photos / "exif-samples" / "jpg"
    gps = dict(read_details(jpg / "gps" / "DSCN0010.jpg"))
    assert gps == {"Exposure": "1/75 s", "Aperture": "f/5.9", "ISO": "ISO 64",
                   "Focal length": "24 mm (112 mm in 35 mm terms)",
                   "GPS": "43.46745° N, 11.88513° E"}
    canon = dict(read_details(jpg / "Canon_40D.jpg"))
    assert canon["Exposure"] == "1/160 s" and canon["Aperture"] == "f/7.1"
    assert canon["Focal length"] == "135 mm" and "GPS" not in canon
    keywords = dict(read_details(jpg / "xmp" / "BlueSquare.jpg"))
    assert keywords == {"Keywords (file)": "XMP, Blue Square, test file, Photoshop, .jpg"}
    assert read_details(jpg / "xmp" / "no_exif.jpg") == [("Keywords (file)", "tag")]  # XMP only
