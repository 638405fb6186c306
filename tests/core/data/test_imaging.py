"""Reading images and rasters into 8-bit RGB: formats, modes, band mapping, stretch, masks, CRS."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scl_desktop.core.data import imaging
from scl_desktop.core.data.imaging import UnreadableImage
from scl_desktop.core.data.manifest import RasterSettings
from scl_desktop.core.errors import Cancelled, ImageReadError
from scl_desktop.core.events import CancelToken, Progress, drive
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, rgb, write_geotiff, write_image

pytestmark = NOT_GEOREFERENCED_OK

PLAIN = RasterSettings()


@pytest.mark.parametrize("head, fmt", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"), (b"\x89PNG\r\n\x1a\n\x00", "png"), (b"II*\x00\x08\x00", "tiff"),
    (b"MM\x00*\x00\x00", "tiff"), (b"II+\x00\x08\x00", "tiff"), (b"BM6\x00", "bmp"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"), (b"hello, world", None), (b"", None),
])
def test_sniff_format(head, fmt):
    assert imaging.sniff_format(head) == fmt


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_rgb_roundtrip(tmp_path, ext):
    array = rgb(1)
    kwargs = {"lossless": True} if ext == ".webp" else {}
    path = write_image(tmp_path / f"a{ext}", array, **kwargs)
    np.testing.assert_array_equal(imaging.read_rgb(path, PLAIN), array)


def test_jpeg_decodes_by_content_whatever_the_extension(tmp_path):
    path = write_image(tmp_path / "photo.PNG", rgb(2, 32), format="JPEG", quality=95)
    out = imaging.read_rgb(path, PLAIN)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_grayscale_is_replicated_and_palette_expanded(tmp_path):
    grey = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)
    out = imaging.read_rgb(write_image(tmp_path / "g.png", grey), PLAIN)
    assert all(np.array_equal(out[..., c], grey) for c in range(3))

    from PIL import Image

    palette_img = Image.fromarray(rgb(3, 16)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette_img.save(tmp_path / "p.png")
    out = imaging.read_rgb(tmp_path / "p.png", PLAIN)
    np.testing.assert_array_equal(out, np.asarray(palette_img.convert("RGB")))


def test_rgba_transparent_pixels_become_black(tmp_path):
    array = np.full((8, 8, 4), 200, np.uint8)
    array[:4, :, 3] = 0  # top half transparent
    array[4:, :, 3] = 128  # half-transparent keeps its colour
    raw = imaging.read_raw(write_image(tmp_path / "a.png", array))
    assert raw.bands == 3 and raw.mask is not None and raw.mask.sum() == 32
    out = imaging.read_rgb(tmp_path / "a.png", PLAIN)
    assert (out[:4] == 0).all() and (out[4:] == 200).all()


def test_16bit_grayscale_is_stretched(tmp_path):
    array = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 40)
    raw = imaging.read_raw(write_image(tmp_path / "deep.png", array))
    assert raw.dtype == "uint16" and raw.bands == 1
    own = imaging.read_rgb(tmp_path / "deep.png", PLAIN)  # no dataset stats: the image's own percentiles
    assert own.min() == 0 and own.max() == 255
    dataset = RasterSettings(stats=((0.0, 65535.0),) * 3)
    out = imaging.read_rgb(tmp_path / "deep.png", dataset)
    np.testing.assert_array_equal(out[..., 0], np.rint(array / 65535.0 * 255).astype(np.uint8))


def test_apply_raster_settings_band_mapping_and_stats():
    data = np.stack([np.full((4, 4), v, np.uint16) for v in (100, 200, 300, 400)])
    raster = RasterSettings(bands=(4, 3, 2), stats=((0.0, 400.0), (0.0, 400.0), (100.0, 300.0)))
    out = imaging.apply_raster_settings(data, raster)
    assert out.shape == (4, 4, 3) and out.flags.c_contiguous
    assert out[0, 0].tolist() == [255, 191, 128]
    with pytest.raises(UnreadableImage, match="unsupported bands .*has 4 bands.*band 5"):
        imaging.apply_raster_settings(data, RasterSettings(bands=(5, 1, 1)))


def test_8bit_data_is_never_stretched():
    data = np.full((3, 2, 2), 7, np.uint8)
    out = imaging.apply_raster_settings(data, RasterSettings(stats=((0.0, 10.0),) * 3))
    assert (out == 7).all()


def test_float_nan_and_mask_render_black():
    data = np.ones((3, 4, 4), np.float64)
    data[:, 0, 0] = np.nan
    mask = np.ones((4, 4), bool)
    mask[3, 3] = False
    out = imaging.apply_raster_settings(data, RasterSettings(stats=((0.0, 2.0),) * 3), mask=mask & np.isfinite(data[0]))
    assert (out[0, 0] == 0).all() and (out[3, 3] == 0).all() and (out[1, 1] == 128).all()


@pytest.mark.parametrize("count, expected", [(1, (1, 1, 1)), (2, (1, 2, 1)), (3, (1, 2, 3)), (6, (1, 2, 3))])
def test_default_bands(count, expected):
    assert imaging.default_bands(count) == expected


def test_geotiff_uint16_keeps_crs_and_bounds(tmp_path):
    data = np.arange(3 * 10 * 12, dtype=np.uint16).reshape(3, 10, 12)
    raw = imaging.read_raw(write_geotiff(tmp_path / "t.tif", data, origin=(500000.0, 5700000.0), pixel=2.0))
    assert raw.crs == "EPSG:32631" and raw.dtype == "uint16" and raw.mask is None
    assert raw.bounds == (500000.0, 5700000.0 - 20.0, 500000.0 + 24.0, 5700000.0)
    np.testing.assert_array_equal(raw.data, data)


def test_geotiff_float64_nodata_is_masked(tmp_path):
    data = np.random.default_rng(0).random((4, 8, 8))
    data[:, :2, :] = -9999.0
    raw = imaging.read_raw(write_geotiff(tmp_path / "f.tif", data, nodata=-9999.0))
    assert raw.dtype == "float64" and raw.bands == 4
    assert raw.mask is not None and not raw.mask[:2].any() and raw.mask[2:].all()
    out = imaging.apply_raster_settings(raw.data, RasterSettings(stats=((0.0, 1.0),) * 3), raw.mask)
    assert (out[:2] == 0).all()


def test_geotiff_without_crs_and_with_wkt_crs(tmp_path):
    plain = imaging.read_raw(write_geotiff(tmp_path / "n.tif", np.zeros((1, 4, 4), np.uint8), crs=None))
    assert plain.crs is None and plain.bounds is None
    custom = ('PROJCS["local",GEOGCS["x",DATUM["d",SPHEROID["s",6378137,298.257223563]],PRIMEM["Greenwich",0],'
              'UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],'
              'PARAMETER["central_meridian",9.5],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],'
              'PARAMETER["false_northing",0],UNIT["metre",1]]')
    raw = imaging.read_raw(write_geotiff(tmp_path / "w.tif", np.zeros((1, 4, 4), np.uint8), crs=custom))
    assert raw.crs is not None and raw.crs.startswith("PROJCS") and raw.bounds is not None


def test_geotiff_alpha_band_becomes_the_mask(tmp_path):
    data = np.full((4, 6, 6), 90, np.uint8)
    data[3, :3] = 0  # alpha
    import rasterio
    from rasterio.enums import ColorInterp

    path = write_geotiff(tmp_path / "rgba.tif", data, photometric="RGB")
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    raw = imaging.read_raw(path)
    assert raw.bands == 3 and raw.mask is not None and not raw.mask[:3].any() and raw.mask[3:].all()


def test_tiff_falls_back_to_pillow_without_rasterio(tmp_path, monkeypatch):
    monkeypatch.setattr(imaging, "_rasterio", lambda: None)
    array = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 100)
    raw = imaging.read_raw(write_image(tmp_path / "p.tif", array))
    assert raw.dtype == "uint16" and raw.crs is None
    np.testing.assert_array_equal(raw.data[0], array)


def test_read_rgb_resizes_to_a_square(tmp_path):
    path = write_image(tmp_path / "r.jpg", rgb(4, 40)[:, :30], quality=90)
    assert imaging.read_rgb(path, PLAIN, size=16).shape == (16, 16, 3)
    big = write_geotiff(tmp_path / "big.tif", np.random.default_rng(1).integers(0, 5000, (2, 50, 70), dtype=np.uint16))
    out = imaging.read_rgb(big, RasterSettings(stats=((0.0, 5000.0),) * 3), size=24)
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"), (b"this is just text, not a TIFF", "not an image"),
])
def test_bad_files_report_their_reason(tmp_path, content, reason):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(UnreadableImage, match=reason) as info:
        imaging.read_rgb(path, PLAIN)
    assert reason in info.value.reason and isinstance(info.value, ImageReadError)


def test_truncated_jpeg_is_corrupt(tmp_path):
    good = write_image(tmp_path / "g.jpg", rgb(5, 64), quality=90).read_bytes()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(UnreadableImage, match="corrupt or truncated"):
        imaging.read_raw(bad)
    with pytest.raises(UnreadableImage, match="unreadable"):
        imaging.read_raw(tmp_path / "missing.jpg")


def test_map_images_keeps_order_and_reports_progress():
    events: list[Progress] = []
    result = drive(imaging.map_images(lambda x: x * x, list(range(50)), "square", workers=3), events.append)
    assert result == [x * x for x in range(50)]
    assert events[-1].done == 50 and events[-1].total == 50 and events[-1].eta_s == 0


def test_map_images_cancels_and_propagates_errors():
    token = CancelToken()
    release = threading.Event()

    def slow(x: int) -> int:
        release.wait(5)
        return x

    steps = imaging.map_images(slow, list(range(100)), "work", cancel=token, workers=2)
    next(steps)  # the first Progress (0 done)
    token.cancel()
    release.set()
    with pytest.raises(Cancelled):
        drive(steps)

    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("bad item")
        return x

    with pytest.raises(ValueError, match="bad item"):
        drive(imaging.map_images(boom, list(range(20)), "work", workers=2))
