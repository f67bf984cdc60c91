"""`dstl-hpc check-config FILE...`: config files checked as the workflow checks them,
without Snakemake; a file that is not text or not YAML, or any config error, is one
line and exit 2 (Snakemake itself gives a traceback for a binary --configfile, before
the Snakefile runs)."""

import re
from pathlib import Path

import pytest
import yaml

from dstl_hpc.cli import main
from dstl_hpc.config.job_memory import FIXED_MEM_MB
from dstl_hpc.config.load import merge_config, read_config_file
from dstl_hpc.errors import DstlError
from dstl_hpc.sources.synthetic import generate

ROOT = Path(__file__).resolve().parent.parent


def check(capsys, *args):
    code = main(["check-config", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), [line for line in err.splitlines() if line.strip()]


def one_error(capsys, *args) -> str:
    code, out, err = check(capsys, *args)
    assert code == 2 and not out and len(err) == 1, (code, out, err)
    assert err[0].startswith("dstl-hpc check-config: error: ")
    return err[0].removeprefix("dstl-hpc check-config: error: ")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_binary_file_is_one_line(in_tmp, capsys):
    path = in_tmp / "config.yaml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00binary")
    assert one_error(capsys, path) == (
        f"{path}: not a text file (a NUL byte at offset 7); a config is YAML or JSON text"
    )


def test_text_that_is_not_utf8_is_one_line(in_tmp, capsys):
    path = in_tmp / "latin1.yaml"
    path.write_bytes("results: caf\u00e9\n".encode("latin-1"))
    assert one_error(capsys, path) == (
        f"{path}: not a text file (byte 0xe9 at offset 12 is not UTF-8); a config is YAML "
        "or JSON text"
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ("data: [1\n", r"not valid YAML or JSON \(line 2, column 1\): expected ',' or ']'"),
        ("a:\n\tb: 1\n", r"not valid YAML or JSON \(line 2, column 1\)"),
        ("- 1\n- 2\n", "a config maps keys to values at its top level, got list"),
        ("", r"a config maps keys to values at its top level, got nothing \(an empty file\)"),
    ],
)
def test_text_that_is_not_a_config_is_one_line(in_tmp, capsys, text, words):
    path = in_tmp / "c.yaml"
    path.write_text(text)
    assert re.fullmatch(re.escape(str(path)) + ": " + words + ".*", one_error(capsys, path))


def test_a_missing_file_and_a_folder_are_one_line(in_tmp, capsys):
    assert one_error(capsys, in_tmp / "nope.yaml") == f"{in_tmp / 'nope.yaml'}: file not found"
    assert "a directory, expected a regular file" in one_error(capsys, in_tmp)


def test_config_errors_are_the_workflows_one_line(in_tmp, capsys):
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["groups"]["roads"]["epochs"] = -3
    path = in_tmp / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert one_error(capsys, path) == "config groups.roads.epochs: -3 is less than the minimum of 1"
    cfg["groups"]["roads"]["epochs"] = 3
    cfg["validation_ids"] = []
    path.write_text(yaml.safe_dump(cfg))
    assert one_error(capsys, path).startswith("config validation_ids: empty, but variants")
    cfg["validation_ids"] = None
    cfg["synthetic"]["size"] = [40000, 40000]
    path.write_text(yaml.safe_dump(cfg))
    assert re.match(r"config synthetic.size: .* per synth job", one_error(capsys, path))


def test_a_good_config_gets_one_line_of_summary(in_tmp, capsys):
    code, out, err = check(capsys, ROOT / "config/config.yaml")
    assert code == 0 and len(out) == 1 and not err
    assert out[0].startswith(f"{ROOT / 'config/config.yaml'}: OK: synthetic data, 8 training")
    assert "5 groups" in out[0] and "results results" in out[0]


def test_files_merge_in_order_and_a_few_keys_change_the_demo(in_tmp, capsys):
    (in_tmp / "a.yaml").write_text("results: first\nimages_per_job: 3\n")
    (in_tmp / "b.yaml").write_text("results: second\n")
    code, out, _ = check(capsys, in_tmp / "a.yaml", in_tmp / "b.yaml")
    assert code == 0 and "results second" in out[0] and "synthetic data" in out[0]
    assert one_error(capsys, in_tmp / "a.yaml", "--config", "results=/").startswith(
        "config results: / is the filesystem root"
    )


def test_a_dstl_config_with_its_data_dir(tmp_path, monkeypatch, capsys):
    data = tmp_path / "dstl"
    generate(data, n_images=5, n_train=4, size=(96, 96), seed=1)
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(tmp_path)
    args = [ROOT / "config/dstl.yaml", "--directory", run, "--config", f"data_dir={data}"]
    # the seed's validation ids are not among these images
    assert "are not training ids" in one_error(capsys, *args)
    args += ["validation_ids=[6010_0_3]"]
    code, out, _ = check(capsys, *args)
    assert code == 0 and "dstl data, 4 training (1 validation) and 1 test images" in out[0]


def test_reader_and_merge_are_snakemakes(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"groups": {"g": {"classes": [1]}}, "results": "r"}')
    assert read_config_file(path) == {"groups": {"g": {"classes": [1]}}, "results": "r"}
    base = {"defaults": {"lr": 1, "epochs": 2}, "results": "a"}
    merge_config(base, {"defaults": {"lr": 3}, "results": None})
    assert base == {"defaults": {"lr": 3, "epochs": 2}, "results": None}
    with pytest.raises(DstlError, match="not a text file"):
        read_config_file(Path("/bin/sh").resolve())


def test_the_fixed_memory_of_rules_is_the_rules_own():
    """job_memory compares synth and stats jobs with the mem_mb their rules fix."""
    for step, smk in (("synth", "data.smk"), ("stats", "train.smk")):
        text = (ROOT / "workflow/rules" / smk).read_text()
        rule = re.search(rf"^\s*rule {step}:\n(.*?)(?=^\s*rule |\Z)", text, re.M | re.S)
        assert rule, step
        mem = re.search(r"mem_mb=(\d+)", rule.group(1))
        assert mem and int(mem.group(1)) == FIXED_MEM_MB[step], step
