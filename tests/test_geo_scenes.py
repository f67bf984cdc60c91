"""Scene tables (CSV, YAML) and globs: ids, splits, files and chosen bands."""

from pathlib import Path

import pytest

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.scenes import read_scene_table, scenes_from_globs


def test_csv_table_relative_paths_and_bands(tmp_path):
    table = tmp_path / "t" / "scenes.csv"
    table.parent.mkdir()
    table.write_text("scene,split,files\na_1,train,x/a.tif;x/a20.jp2\nb,test,/abs/b.tif\n")
    scenes = read_scene_table(table, bands=[[3, 2, 1], None])
    assert [(s.id, s.split) for s in scenes] == [("a_1", "train"), ("b", "test")]
    assert scenes[0].files[0].path == table.parent / "x/a.tif"
    assert scenes[0].files[0].bands == (3, 2, 1)
    assert scenes[0].files[1].bands is None
    assert scenes[1].files[0].path == Path("/abs/b.tif")


def test_yaml_table_with_per_file_bands(tmp_path):
    table = tmp_path / "scenes.yaml"
    table.write_text(
        "- {id: s1, split: validation, files: [a.tif, {path: b.jp2, bands: [1, 2]}]}\n"
        "- {id: s2, split: predict, files: c.vrt}\n"
    )
    scenes = read_scene_table(table)
    assert scenes[0].files[1].bands == (1, 2)
    assert scenes[1].files[0].path == tmp_path / "c.vrt"


@pytest.mark.parametrize(
    "text, message",
    [
        ("scene,split\na,train\n", "needs the columns scene, split, files"),
        ("scene,split,files\na-b,train,a.tif\n", "scene id 'a-b'"),
        ("scene,split,files\na,training,a.tif\n", "split 'training' is not one of"),
        ("scene,split,files\na,train,a.tif\na,test,b.tif\n", "scene a is listed twice"),
        ("scene,split,files\na,train,\n", "no raster files"),
        ("scene,split,files\n", "no scenes"),
    ],
)
def test_bad_tables_are_refused_naming_the_file(tmp_path, text, message):
    table = tmp_path / "scenes.csv"
    table.write_text(text)
    with pytest.raises(DstlError, match=message) as err:
        read_scene_table(table)
    assert "scenes.csv" in str(err.value)


def test_missing_and_binary_tables(tmp_path):
    with pytest.raises(DstlError, match="nope.csv: scene table not found"):
        read_scene_table(tmp_path / "nope.csv")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DstlError, match="b.csv: not a readable text file"):
        read_scene_table(binary)


def test_globs_one_scene_per_file(tmp_path):
    for name in ("t1.tif", "t2.tif", "v1.tif"):
        (tmp_path / name).write_bytes(b"")
    scenes = scenes_from_globs({"train": ["t*.tif"], "validation": "v*.tif"}, tmp_path)
    assert [(s.id, s.split) for s in scenes] == [
        ("t1", "train"), ("t2", "train"), ("v1", "validation"),
    ]  # fmt: skip
    with pytest.raises(DstlError, match=r"scene_globs.test: 'x\*.tif' matches no file"):
        scenes_from_globs({"test": ["x*.tif"]}, tmp_path)


def test_fifo_table_and_label_file_are_refused_not_read(tmp_path):
    import os

    from dstl_hpc.sources.geo.labels import read_labels

    for name in ("scenes.csv", "labels.gpkg"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(DstlError, match=r"scenes\.csv: a FIFO \(named pipe\)"):
        read_scene_table(tmp_path / "scenes.csv")
    with pytest.raises(DstlError, match=r"labels\.gpkg: a FIFO \(named pipe\)"):
        read_labels([str(tmp_path / "labels.gpkg")], "c", {"a": ["a"]}, ["a"])
