"""Input discovery, the window grid (edges, stride, metres), nodata shares and window reads."""

from __future__ import annotations

import numpy as np
import pytest

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import drive
from scl_desktop.core.labelling.tiling import (
    SceneGrid,
    TilingConfig,
    clip_window,
    describe_input,
    find_input_files,
    has_mask,
    open_raster,
    plan_inputs,
    read_window,
    scene_grid,
)
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, rgb, write_geotiff, write_image

pytestmark = NOT_GEOREFERENCED_OK


def offsets(grid: SceneGrid) -> tuple[list[int], list[int]]:
    xs = [grid.window(0, c).x for c in range(grid.n_cols)]
    ys = [grid.window(r, 0).y for r in range(grid.n_rows)]
    return xs, ys


def test_shift_moves_the_last_window_back_inside_the_scene():
    grid = SceneGrid(1000, 600, 256, 256, 256, 256, "shift")
    assert (grid.n_rows, grid.n_cols, len(grid)) == (3, 4, 12)
    xs, ys = offsets(grid)
    assert xs == [0, 256, 512, 744] and ys == [0, 256, 344]
    assert all((w.width, w.height) == (256, 256) for w in grid.windows())
    assert all(clip_window(w, 1000, 600)[2:] == (256, 256) for w in grid.windows())


def test_pad_keeps_the_regular_grid_and_clips_reads():
    grid = SceneGrid(1000, 600, 256, 256, 256, 256, "pad")
    xs, ys = offsets(grid)
    assert xs == [0, 256, 512, 768] and ys == [0, 256, 512]
    last = grid.window(2, 3)
    assert (last.width, last.height) == (256, 256)
    assert clip_window(last, 1000, 600) == (768, 512, 232, 88)


def test_overlapping_stride_and_cell_geometry():
    grid = SceneGrid(1000, 1000, 256, 256, 128, 128, "shift")
    xs, _ = offsets(grid)
    assert xs == [0, 128, 256, 384, 512, 640, 744]
    # cells: ceil(1000 / 128) = 8 per side from the scene origin, together exactly the scene (125 px each)
    assert (grid.cell_rows, grid.cell_cols) == (8, 8)
    assert grid.cell_geometry() == (0.0, 0.0, 125.0, 125.0)
    transform = grid.cell_transform((0.5, 0, 1000.0, 0, -0.5, 2000.0))
    assert tuple(transform)[:6] == pytest.approx((62.5, 0, 1000.0, 0, -62.5, 2000.0))
    # a cell takes the windows covering its centre: cell centres 62.5, 187.5, ..., 937.5
    assert grid.cell_span(grid.window(0, 0))[1] == slice(0, 2)  # window 0..256: centres 62.5, 187.5
    assert grid.cell_span(grid.window(0, 6))[1] == slice(6, 8)  # shifted back to 744..1000: centres 812.5, 937.5


def test_cells_cover_exactly_the_scene_when_it_is_not_a_multiple_of_the_stride():
    grid = SceneGrid(100, 70, 32, 32, 32, 32, "shift")
    assert (grid.n_rows, grid.n_cols) == (3, 4) and (grid.cell_rows, grid.cell_cols) == (3, 4)
    ox, oy, cw, ch = grid.cell_geometry()
    assert (ox, oy, cw * grid.cell_cols, ch * grid.cell_rows) == pytest.approx((0, 0, 100, 70))
    # columns: windows 0, 32, 64, 68 (shifted); cell centres 12.5, 37.5, 62.5, 87.5
    assert [grid.cell_span(grid.window(0, c))[1] for c in range(4)] == [
        slice(0, 1), slice(1, 3), slice(3, 4), slice(3, 4)]
    # every cell is covered by a window
    covered = np.zeros((grid.cell_rows, grid.cell_cols), int)
    for win in grid.windows():
        covered[grid.cell_span(win)] += 1
    assert (covered > 0).all()
    # the window at a point: the one covering it whose centre is nearest
    assert grid.window_at(99.5, 69.5) == (2, 3) and grid.window_at(66, 0) == (0, 2)
    assert grid.window_at(100, 0) is None and grid.window_at(-1, 5) is None


def test_scene_smaller_than_a_tile_is_one_window():
    shift = SceneGrid(100, 300, 256, 256, 256, 256, "shift")
    assert (shift.n_rows, shift.n_cols) == (2, 1)
    assert shift.window(0, 0).width == 100 and shift.window(1, 0).y == 44
    assert shift.cell_geometry()[::2] == (0.0, 100.0)  # the one column spans the scene
    # two rows of 150 px cells (centres 75, 225): window 1 (44..300) covers both, window 0 (0..256) too
    assert shift.cell_span(shift.window(1, 0)) == shift.cell_span(shift.window(0, 0)) == (slice(0, 2), slice(0, 1))
    pad = SceneGrid(100, 300, 256, 256, 256, 256, "pad")
    assert pad.window(0, 0).width == 256 and clip_window(pad.window(0, 0), 100, 300)[2] == 100


def test_gaps_when_the_stride_is_larger_than_the_tile():
    grid = SceneGrid(1000, 256, 100, 256, 300, 256, "shift")
    xs, _ = offsets(grid)
    assert xs == [0, 300, 600, 900]
    # 4 cells of 250 px (centres 125, 375, 625, 875); each window stands for the 300 px block around it
    assert [grid.cell_span(grid.window(0, c))[1] for c in range(4)] == [
        slice(0, 1), slice(1, 2), slice(2, 3), slice(3, 4)]
    assert grid.window_at(210, 10) == (0, 1) and grid.window_at(190, 10) == (0, 0)


@pytest.mark.parametrize("changes", [dict(tile=0), dict(tile=64, tile_m=10.0), dict(stride=5, stride_m=2.0),
                                     dict(tile_m=-1.0), dict(edge="wrap"), dict(mode="tiles"), dict(min_valid=2.0)])
def test_bad_tiling_options_are_explained(changes):
    with pytest.raises(ConfigError) as err:
        TilingConfig(**changes).validate()
    assert err.value.hint


def test_tile_in_metres_uses_the_pixel_size(tmp_path):
    path = write_geotiff(tmp_path / "utm.tif", np.zeros((3, 400, 300), np.uint8), crs="EPSG:32618", pixel=0.5)
    with open_raster(path) as ds:
        grid = scene_grid(ds, TilingConfig(tile_m=64.0, stride_m=32.0), default_tile=256)
    assert (grid.tile_w, grid.tile_h, grid.stride_x, grid.stride_y) == (128, 128, 64, 64)


def test_tile_in_metres_refuses_degrees_and_missing_georeference(tmp_path):
    geo = write_geotiff(tmp_path / "wgs.tif", np.zeros((3, 64, 64), np.uint8), crs="EPSG:4326",
                        origin=(5.0, 52.0), pixel=0.0001)
    plain = write_image(tmp_path / "plain.png", rgb(0, 600))
    with open_raster(geo) as ds, pytest.raises(ConfigError, match="geographic"):
        scene_grid(ds, TilingConfig(tile_m=10.0), 256)
    with pytest.raises(ConfigError, match="no georeference"):
        describe_input(plain, TilingConfig(tile_m=10.0, mode="grid"), 256)
    assert describe_input(plain, TilingConfig(tile_m=10.0), 256).grid is None  # auto: labelled whole


def test_auto_mode_cuts_only_when_two_windows_fit(tmp_path):
    small = write_image(tmp_path / "small.png", rgb(1, 300))
    large = write_geotiff(tmp_path / "large.tif", np.zeros((3, 520, 200), np.uint8))
    cfg = TilingConfig()
    assert describe_input(small, cfg, 256).grid is None
    inp = describe_input(large, cfg, 256)
    assert inp.grid is not None and (inp.grid.n_rows, inp.grid.n_cols) == (3, 1) and inp.units == 3
    assert inp.georeferenced and inp.crs == "EPSG:32631" and inp.transform[0] == 1.0
    assert describe_input(small, TilingConfig(mode="grid"), 256).grid is not None
    assert describe_input(large, TilingConfig(mode="whole"), 256).grid is None


def test_find_input_files_recurses_skips_hidden_and_reports_missing(tmp_path):
    write_image(tmp_path / "a" / "x.png", rgb(0))
    write_image(tmp_path / "a" / "b" / "y.jpg", rgb(1))
    write_image(tmp_path / "a" / ".hidden" / "z.png", rgb(2))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    files, missing = find_input_files([tmp_path / "a", tmp_path / "a" / "x.png", tmp_path / "gone"])
    assert [f.name for f in files] == ["x.png", "y.jpg"]  # files of a folder before its sub-folders
    assert len(missing) == 1 and "does not exist" in missing[0].reason


def test_plan_skips_unreadable_files_with_the_reason(tmp_path):
    write_image(tmp_path / "ok.png", rgb(0))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    plan = drive(plan_inputs([tmp_path], TilingConfig(), 24))
    assert [i.path.name for i in plan.inputs] == ["ok.png"]
    assert [s.path.endswith("broken.tif") for s in plan.skipped] == [True]
    assert "cannot be read" in plan.skipped[0].reason
    assert plan.total == 1


def test_read_window_masks_nodata_and_padding(tmp_path):
    data = np.full((3, 64, 48), 100, np.uint8)
    data[:, :32, :] = 0  # top half nodata
    path = write_geotiff(tmp_path / "nd.tif", data, nodata=0)
    with open_raster(path) as ds:
        assert has_mask(ds)
        grid = scene_grid(ds, TilingConfig(tile=32, edge="pad"), 32)
        top = read_window(ds, grid.window(0, 0), [1, 2, 3], True)
        bottom = read_window(ds, grid.window(1, 0), [1, 2, 3], True)
        padded = read_window(ds, grid.window(1, 1), [1, 2, 3], True)
    assert top[2] == 0.0 and bottom[2] == 1.0
    array, mask, valid = padded
    assert array.shape == (3, 32, 32) and valid == pytest.approx(0.5)
    assert mask[:, :16].all() and not mask[:, 16:].any() and (array[:, :, 16:] == 0).all()


def test_read_window_without_nodata_has_no_mask(tmp_path):
    path = write_geotiff(tmp_path / "full.tif", np.ones((4, 40, 40), np.uint16))
    with open_raster(path) as ds:
        assert not has_mask(ds)
        array, mask, valid = read_window(ds, scene_grid(ds, TilingConfig(tile=20), 20).window(1, 1), [3, 1], False)
    assert array.shape == (2, 20, 20) and array.dtype == np.uint16 and mask is None and valid == 1.0
