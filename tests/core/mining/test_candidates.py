"""Candidates of new imagery: labelling's probabilities, window geometry, candidates.csv and chips, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scl_desktop import cli
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.events import drive
from scl_desktop.core.labelling.label import LabelConfig, label_inputs
from scl_desktop.core.labelling.tiling import TilingConfig
from scl_desktop.core.mining.candidates import MineConfig, find_candidates
from scl_desktop.core.mining.dataset_version import write_version
from scl_desktop.core.mining.export import CANDIDATE_FIELDS, CANDIDATES_FILE, CHIPS_DIR, write_candidates
from scl_desktop.core.mining.ranking import RankConfig
from scl_desktop.core.mining.review import ReviewSession
from tests.core.raster_fixtures import write_geotiff
from tests.core.training.test_encoder import COLOURS

LABEL = LabelConfig(tiling=TilingConfig(), batch_size=4, device="cpu", readers=1)


def new_imagery(root: Path) -> Path:
    """Eight loose PNGs in the classes' colours and a georeferenced scene of 4 x 2 windows (24 px each)."""
    rng = np.random.default_rng(7)
    for i in range(8):
        colour = COLOURS[i % 4]
        pixels = np.clip(rng.normal(colour, 50, (24, 24, 3)), 0, 255).astype(np.uint8)
        (root / "loose").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "loose" / f"img{i}.png")
    scene = np.concatenate([np.clip(rng.normal(COLOURS[c], 50, (24, 24, 3)), 0, 255) for c in (0, 2, 3, 1)], axis=1)
    scene = np.concatenate([scene, scene[:, ::-1]], axis=0).astype(np.uint8)  # 48 x 96
    write_geotiff(root / "scene.tif", scene.transpose(2, 0, 1), crs="EPSG:32631", origin=(500000.0, 5700000.0),
                  pixel=2.0)
    return root


def test_candidates_use_labellings_probabilities_and_rank_by_class(mined_run, tmp_path):
    inputs = new_imagery(tmp_path / "new")
    config = MineConfig(target="class2", rank=RankConfig(top=5, diverse=False), label=LABEL)
    found = drive(find_candidates(mined_run, [inputs], config))
    assert found.scored == 16 and len(found.candidates) == 5  # 8 images + 8 windows
    assert [c.rank for c in found.candidates] == [1, 2, 3, 4, 5]
    probs = [c.class_probability for c in found.candidates]
    assert probs == sorted(probs, reverse=True) and [c.score for c in found.candidates] == probs
    labelled = {(r.path, r.col_off, r.row_off): r for r in drive(label_inputs(mined_run, [inputs], LABEL)).rows}
    for c in found.candidates:
        row = labelled[(c.row.path, c.row.col_off, c.row.row_off)]
        assert (c.predicted, c.predicted_probability) == (row.predicted, row.confidence)
        in_top = dict(row.top).get("class2")
        if in_top is not None:
            assert c.class_probability == pytest.approx(in_top, abs=1e-6)
    windows = [r for r in found.result.rows if r.cell_row is not None]
    assert len(windows) == 8 and all(r.crs and r.minx is not None for r in windows)


def test_uncertain_lists_and_diversity_are_ranked(mined_run, tmp_path):
    inputs = new_imagery(tmp_path / "new")
    doubt = drive(find_candidates(mined_run, [inputs], MineConfig(rank=RankConfig(top=16, diverse=False), label=LABEL)))
    margins = [c.margin for c in doubt.candidates]
    assert margins == sorted(margins) and all(c.class_probability is None for c in doubt.candidates)
    diverse = drive(find_candidates(mined_run, [inputs], MineConfig(
        target="class3", rank=RankConfig(top=16, diverse=True, pool_factor=1), label=LABEL)))
    plain = drive(find_candidates(mined_run, [inputs], MineConfig(
        target="class3", rank=RankConfig(top=16, diverse=False), label=LABEL)))
    key = [(c.row.path, c.row.col_off, c.row.row_off) for c in plain.candidates]
    assert sorted(key) == sorted((c.row.path, c.row.col_off, c.row.row_off) for c in diverse.candidates)
    assert key[0] == (diverse.candidates[0].row.path, diverse.candidates[0].row.col_off,
                      diverse.candidates[0].row.row_off)  # the best score always comes first


def read_csv(path: Path) -> tuple[bytes, list[dict[str, str]]]:
    raw = path.read_bytes()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return raw[:3], list(csv.DictReader(fh))


def test_candidates_csv_and_chips_are_written(mined_run, tmp_path):
    inputs = new_imagery(tmp_path / "new")
    found = drive(find_candidates(mined_run, [inputs], MineConfig(target="class2", rank=RankConfig(top=6),
                                                                   label=LABEL)))
    out = tmp_path / "out"
    (out / CHIPS_DIR).mkdir(parents=True)
    (out / CHIPS_DIR / "0099_old.png").write_bytes(b"stale")
    files = drive(write_candidates(found, out))
    bom, rows = read_csv(out / CANDIDATES_FILE)
    assert bom == b"\xef\xbb\xbf" and files.csv == out / CANDIDATES_FILE
    with open(out / CANDIDATES_FILE, encoding="utf-8-sig", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == CANDIDATE_FIELDS
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {r["class"] for r in rows} == {"class2"}
    chips = sorted((out / CHIPS_DIR).iterdir())
    assert [p.name for p in chips] == sorted(Path(r["chip"]).name for r in rows)  # the stale chip is gone
    for row in rows:
        assert row["chip"].startswith(f"{CHIPS_DIR}/{int(row['rank']):04d}_")
        with Image.open(out / row["chip"]) as chip:
            assert chip.size == (mined_run.store_size, mined_run.store_size)
        if row["path"].endswith("scene.tif"):
            assert row["crs"] and float(row["maxx"]) > float(row["minx"]) and row["cell_row"] != ""
            assert "_c" in row["chip"] and int(row["width"]) == 24
        else:
            assert row["crs"] == "" and row["minx"] == ""
    assert not [p for p in out.rglob("*.tmp")]

    review = ReviewSession.open(out)  # mine.json names the run and its classes for the review
    assert (review.run_id, review.target, review.classes) == (mined_run.id, "class2", mined_run.split.classes)
    review.accept(1)
    version = drive(write_version(review, mined_run.split, tmp_path / "v2"))
    grown = SplitManifest.load(version.split)
    assert grown.test == mined_run.split.test and len(grown.train) == len(mined_run.split.train) + 1


def test_cli_mine_writes_the_list(mined_run, tmp_path, capsys):
    inputs = new_imagery(tmp_path / "new")
    out = tmp_path / "cli"
    assert cli.main(["mine", mined_run.id, str(inputs), "--uncertain", "--uncertainty", "entropy", "--top", "3",
                     "--out", str(out), "--device", "cpu", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ranked_by"] == "entropy" and len(summary["candidates"]) == 3 and len(summary["chips"]) == 3
    assert (out / CANDIDATES_FILE).is_file()


def test_bad_input_names_the_next_command(mined_run, tmp_path, capsys):
    inputs = new_imagery(tmp_path / "new")
    with pytest.raises(ConfigError, match="no class 'harbor'") as unknown:
        drive(find_candidates(mined_run, [inputs], MineConfig(target="harbor", label=LABEL)))
    assert "scl mine" in unknown.value.hint and "class0" in unknown.value.what
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        drive(find_candidates(mined_run, [tmp_path / "empty"], MineConfig(target="class2", label=LABEL)))
    assert cli.main(["mine", mined_run.id, str(inputs), "--out", str(tmp_path / "x")]) == 2
    assert "--class NAME or --uncertain" in capsys.readouterr().err
