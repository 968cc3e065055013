"""`export --format script`: one plain training script that reproduces the run's test accuracy."""

from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
from pathlib import Path

import pandas as pd
import pytest

import torchclassify as tc
from conftest import cli_in_process

EXAMPLES = Path(__file__).parent.parent / "examples"
CASES = {
    "circles": dict(data="circles", n_samples=1000, noise=0.05, hidden=[32], epochs=40),
    "blobs": dict(data="blobs", n_samples=1000, hidden=[16], epochs=15, optimizer="sgd", lr=0.05,
                  schedule="cosine"),
    "churn.csv": dict(data=str(EXAMPLES / "churn.csv"), target="status", hidden=[32], epochs=20, norm="batch"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_script_reaches_the_runs_test_accuracy(case, tmp_path, one_thread):
    run = tc.train(progress="quiet", out=tmp_path / "run", **CASES[case])
    done = cli_in_process("export", str(tmp_path / "run"), "--format", "script", "-o", str(tmp_path / "again.py"))
    assert done.returncode == 0, done.stderr
    script = (tmp_path / "again.py").read_text()
    assert "torchclassify" not in re.sub(r'^""".*?"""', "", script, flags=re.S)  # no import of the tool
    for step in ("1. forward", "2. loss", "3. zero_grad", "4. backward", "5. step"):
        assert step in script
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # in this process: an interpreter start costs more than the run
        runpy.run_path(str(tmp_path / "again.py"), run_name="__main__")
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", printed.getvalue()).group(1))
    assert abs(accuracy - run.metrics["test"]["accuracy"]) <= 0.02, (accuracy, run.metrics["test"])
    assert run.metrics["test"]["accuracy"] > 0.7  # a run that learned something, not two coin flips


def test_the_script_says_what_it_does_not_reproduce(tmp_path):
    from torchclassify.eject import render_script

    tc.train(data=str(EXAMPLES / "songs.csv"), target="mood_*", epochs=1, progress="quiet", augment="noise",
             class_weight="balanced", out=tmp_path / "run")
    script = render_script(tmp_path / "run")
    opening = script.split('"""')[1]
    assert "--augment noise" in opening and "--class-weight balanced" in opening
    assert "stratified the labels iteratively" in opening
    compile(script, "again.py", "exec")  # valid Python
    assert max(len(line) for line in script.splitlines()) <= 120


def test_a_run_on_a_dataframe_reads_the_table_it_asks_for(tmp_path, one_thread):
    from torchclassify.eject import write_script

    frame = pd.read_csv(EXAMPLES / "churn.csv")
    run = tc.train(data=frame, target="status", hidden=[32], epochs=20, progress="quiet", out=tmp_path / "run")
    script = write_script(tmp_path / "run", tmp_path / "again.py").read_text()
    assert "trained on a DataFrame in memory; save it as rows.csv" in script.split('"""')[1]
    frame.to_csv(tmp_path / "rows.csv", index=False)
    printed, before = io.StringIO(), Path.cwd()
    try:
        os.chdir(tmp_path)
        with contextlib.redirect_stdout(printed):
            runpy.run_path("again.py", run_name="__main__")
    finally:
        os.chdir(before)
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", printed.getvalue()).group(1))
    assert abs(accuracy - run.metrics["test"]["accuracy"]) <= 0.02, (accuracy, run.metrics["test"])


def test_a_folder_without_settings_is_refused_in_one_line(tmp_path):
    run = tc.train(data="circles", n_samples=100, epochs=1, progress="quiet")
    run.classifier.save(tmp_path)  # model files only, no config.json
    done = cli_in_process("export", str(tmp_path), "--format", "script", "-o", str(tmp_path.parent / "x.py"))
    assert done.returncode == 2 and "no config.json" in done.stderr and done.stderr.count("\n") == 1


def test_a_tampered_run_folder_cannot_put_code_into_the_script(tmp_path):
    # Review: a class_weight label, the run folder's name or the model class went into the script as they were,
    # so a crafted config.json or folder name ran code when the learner ran the script.
    import ast
    import json

    from torchclassify.eject import render_script
    from torchclassify.errors import ModelFileError

    run = tmp_path / 'r"""\nimport os; os.system("echo INJECTED")\n"""'
    tc.train(data="circles", n_samples=200, hidden=[8], epochs=1, progress="quiet", out=run)
    config = json.loads((run / "config.json").read_text())
    config["train"]["class_weight"] = {'0"""\nimport os;os.system("echo INJECTED")\n"""': 1.0, "1": 1.0}
    (run / "config.json").write_text(json.dumps(config))
    script = render_script(run)
    calls = [node for node in ast.walk(ast.parse(script)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "system"]
    assert not calls and "INJECTED" in script.split('"""')[1]  # still said, as words of the docstring
    config["model"]["custom"] = 'os; os.system("echo INJECTED") #:X'
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises((ModelFileError, tc.ConfigError)):
        render_script(run)


def test_the_script_says_it_trains_the_plain_mlp_for_a_tabular_run(tmp_path):
    from torchclassify.eject import render_script

    tc.train(data=str(EXAMPLES / "churn.csv"), target="status", recipe="tabular", hidden=[8], epochs=1,
             progress="quiet", out=tmp_path / "run")
    notes = render_script(tmp_path / "run").split('"""')[1]
    assert "the tabular recipe" in notes and "the run averaged 4 networks" in notes  # the recipe's ensemble
    assert "--piecewise 2: that many of the run's networks also read each number in quantile bins" in notes


def test_the_script_says_it_reads_skewed_columns_as_they_are(tmp_path):
    import numpy as np

    from torchclassify.eject import render_script

    rng = np.random.default_rng(0)
    jobs = np.floor(rng.lognormal(2.0, 1.6, 200))
    frame = pd.DataFrame({"jobs": jobs, "x": rng.normal(size=200), "y": np.where(jobs > 8, "long", "short")})
    tc.train(data=frame, target="y", epochs=1, progress="quiet", out=tmp_path / "run")
    notes = render_script(tmp_path / "run").split('"""')[1]
    assert "read 1 skewed column(s) (jobs) as log(1 + x / s)" in " ".join(notes.split())
