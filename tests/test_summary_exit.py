"""Issue 20: `dstl-hpc summary` exits 2 for a missing results folder (one line naming
it), 1 for an incomplete run (what there is printed, what is missing named) and 0 for
a complete one; `--exit-zero` (the workflow's onsuccess handler) always exits 0."""

import gzip
import json

import pytest

from dstl_hpc.cli import main

SCORES = {
    "per_class": {"1": 0.5},
    "mean": 0.5,
    "pixel_per_class": {"1": 0.6},
    "pixel_mean": 0.6,
    "images": ["6010_1_1"],
}


def summary(*args):
    return main(["summary", *map(str, args)])


def ran(res, *variants):
    """What a variant's jobs leave first: its models folder."""
    for v in variants:
        (res / "models" / v / "built").mkdir(parents=True)


def write_scores(res, split="validation"):
    (res / split).mkdir(parents=True, exist_ok=True)
    (res / split / "scores.json").write_text(json.dumps(SCORES))


def write_submission(res):
    with gzip.open(res / "submission.csv.gz", "wt") as fh:
        fh.write("ImageId,ClassType,MultipolygonWKT\n6120_2_0,1,MULTIPOLYGON EMPTY\n")


def test_missing_results_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert summary(tmp_path / "nowhere") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("dstl-hpc summary: error: ") and "nowhere: no such folder" in err
    (tmp_path / "file").write_text("x")
    assert summary(tmp_path / "file") == 2
    assert "file: not a folder" in capsys.readouterr().err


def test_incomplete_run_prints_what_is_there_names_what_is_missing_exit_1(tmp_path, capsys):
    res = tmp_path / "results"
    ran(res, "validation", "all")
    write_submission(res)  # the all variant finished, the validation one did not
    assert summary(res) == 1
    out = capsys.readouterr().out
    assert "submission: " in out and "(1 rows" in out
    missing = [line for line in out.splitlines() if line.startswith("missing: ")]
    assert len(missing) == 1 and "validation/scores.json: missing" in missing[0]
    assert out.splitlines()[-1].startswith("incomplete: 1 file(s) missing or unreadable")


def test_run_where_nothing_ran_is_incomplete(tmp_path, capsys):
    res = tmp_path / "results"
    (res / "logs").mkdir(parents=True)
    assert summary(res) == 1
    out = capsys.readouterr().out
    assert "validation/scores.json: missing" in out and "submission.csv.gz: missing" in out


def test_unreadable_scores_are_a_problem_exit_1(tmp_path, capsys):
    res = tmp_path / "results"
    ran(res, "validation")
    (res / "validation").mkdir()
    (res / "validation/scores.json").write_text("{not json")
    assert summary(res) == 1
    assert "problem: " in capsys.readouterr().out


def test_complete_runs_exit_0(tmp_path, capsys):
    # the validation variant alone: its scores are all it makes
    res = tmp_path / "validation_only"
    ran(res, "validation")
    write_scores(res)
    assert summary(res) == 0
    out = capsys.readouterr().out
    assert "submission: none (the 'all' variant did not run)" in out and "missing" not in out
    # both variants
    res = tmp_path / "both"
    ran(res, "validation", "all")
    write_scores(res)
    write_submission(res)
    assert summary(res) == 0
    assert "incomplete" not in capsys.readouterr().out


def test_synthetic_run_without_test_scores_is_incomplete(tmp_path, capsys):
    res = tmp_path / "results"
    ran(res, "validation", "all")
    write_scores(res)
    write_submission(res)
    (res / "data").mkdir()
    (res / "data/synth_test_wkt.csv").write_text("ImageId,ClassType,MultipolygonWKT\n")
    assert summary(res) == 1
    assert "test/scores.json: missing" in capsys.readouterr().out
    write_scores(res, "test")
    assert summary(res) == 0


def test_exit_zero_for_the_workflow_handler(tmp_path, capsys):
    res = tmp_path / "results"
    ran(res, "validation")
    assert summary(res, "--exit-zero") == 0
    assert "validation/scores.json: missing" in capsys.readouterr().out
    assert summary(tmp_path / "nowhere", "--exit-zero") == 0
    assert "no such folder" in capsys.readouterr().err


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["summary", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 the run is complete; 1 it is incomplete" in text
    assert "2 RESULTS is missing or not a folder" in text


def test_geo_run_needs_the_files_of_the_variants_that_ran(tmp_path, capsys):
    res = tmp_path / "results"
    (res / "geo/all/probabilities").mkdir(parents=True)
    scenes = {"s1": {"split": "predict"}}
    (res / "geo/check.json").write_text(json.dumps({"scenes": scenes}))
    assert summary(res) == 1  # the all variant ran: its merged layer is missing
    assert "polygons.gpkg: missing" in capsys.readouterr().out
    (res / "polygons.gpkg").write_bytes(b"")
    assert summary(res) == 0  # predict only: no validation scores are due
    assert "scores.json" not in capsys.readouterr().out
    ran(res, "validation")
    assert summary(res) == 1
    assert "validation/scores.json: missing" in capsys.readouterr().out
