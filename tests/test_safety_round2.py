"""Issue 16's cases whose fix landed with no test of its own: each is reproduced here through the CLI and must
end in one line with exit code 2 (or a clean success), with nothing lost and nothing left behind."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import cli_in_process, one_line

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["--n-samples", "120", "--epochs", "2", "--batch-size", "full", "--hidden", "4", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("r2") / "run"
    assert cli_in_process("train", "--data", "circles", *FAST, "--out", str(out)).returncode == 0
    return out


@pytest.fixture
def run(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def _edit(run, edit):
    model = json.loads((run / "model.json").read_text())
    edit(model)
    (run / "model.json").write_text(json.dumps(model))


def test_a_finished_run_named_like_a_partial_folder_is_never_deleted(tmp_path):
    # Issue 16 #1: train --out o/q.partial, then train --out o/q --overwrite deleted o/q.partial.
    one_line(cli_in_process("train", "--data", "circles", *FAST, "--out", str(tmp_path / "q.partial")),
             "interrupted trainings live")
    (tmp_path / "q.partial").mkdir()
    (tmp_path / "q.partial" / "model.json").write_text("{}")  # what a finished run folder holds
    one_line(cli_in_process("train", "--data", "circles", *FAST, "--out", str(tmp_path / "q"), "--overwrite"),
             "is not an interrupted training")
    assert (tmp_path / "q.partial" / "model.json").read_text() == "{}"
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize("field, value", [("mean", float("nan")), ("std", float("inf")), ("std", 0.0),
                                          ("median", float("-inf"))])
def test_non_finite_or_zero_scaling_in_model_json_is_refused(run, field, value):
    # Issue 16 #9: NaN/inf/zero mean/std gave NaN probabilities with exit 0.
    _edit(run, lambda m: m["preprocessing"]["numeric"][0].update({field: value}))
    one_line(cli_in_process("predict", str(run), "/dev/null"), "model.json")


def test_a_binary_model_json_edited_to_three_classes_is_refused(run):
    # Issue 16 #7: a pandas shape error.
    _edit(run, lambda m: m["labels"].update(classes=[0, 1, 2]))
    one_line(cli_in_process("evaluate", str(run), "--data", "circles"), "3 classes do not fit a binary network")


@pytest.mark.parametrize("classes", [[1, 1], ["yes", "yes "], [1, "1.0"]])
def test_a_model_json_naming_a_class_twice_is_refused(run, classes):
    # Review: a tampered model.json with one class twice loaded and predicted, its labels ambiguous.
    _edit(run, lambda m: m["labels"].update(classes=classes))
    one_line(cli_in_process("predict", str(run), "/dev/null"), "classes must be distinct")


def test_a_padded_model_json_is_refused_before_it_costs_memory(run):
    # Issue 16 #5: 60 MiB of [{},{},...] made predict peak at 1.8 GB.
    text = (run / "model.json").read_text()
    (run / "model.json").write_text(text[:-2] + ', "pad": [' + "{}," * 3_000_000 + "{}]}")
    one_line(cli_in_process("predict", str(run), "/dev/null"), "model.json")
    (run / "model.json").write_text(text[:-2] + ', "pad": [' + "{}," * 1_000_000 + "{}]}")  # under the size cap
    one_line(cli_in_process("predict", str(run), "/dev/null"), "more JSON values")


@pytest.mark.parametrize("args, words", [
    (["--out", ""], ["--out: is empty"]),  # Issue 16 #7
    (["--epochs", "1e20"], ["--epochs"]),  # Issue 16 #12: was accepted (patience 1e19)
    (["--epochs", "1000001"], ["--epochs"]),
])
def test_impossible_flags_are_one_line(tmp_path, args, words):
    one_line(cli_in_process("train", "--data", "circles", "--n-samples", "120", *args, cwd=tmp_path), *words)
    assert not any(tmp_path.iterdir())


def test_config_that_is_a_folder_or_a_5000_digit_number_is_one_line(tmp_path):
    # Issue 16 #7: IsADirectoryError and ValueError tracebacks.
    (tmp_path / "folder").mkdir()
    one_line(cli_in_process("train", "--config", str(tmp_path / "folder"), "--out", str(tmp_path / "o")), "folder")
    (tmp_path / "digits.json").write_text('{"train": {"epochs": ' + "9" * 5000 + "}}")
    one_line(cli_in_process("train", "--config", str(tmp_path / "digits.json"), "--out", str(tmp_path / "o")),
             "not valid JSON")
    (tmp_path / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    one_line(cli_in_process("tune", "--config", str(tmp_path / "deep.json"), "--out", str(tmp_path / "o")),
             "nested too deeply")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.json", "digits.json", "folder"]
