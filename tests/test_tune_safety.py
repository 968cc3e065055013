"""tune's folder and study are its own: it never writes over a run or a file it did not make (the data it reads
included), never takes another study's best/ for its own, never mixes trials scored on other data or other
fixed settings in one study, and does not hit the study's storage every epoch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from conftest import cli_in_process, one_line
from torchclassify.tune import tune

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["--epochs", "2", "--batch-size", "full", "--trials", "1", "--space", "hidden=8", "--quiet"]


def _table(path: Path, target: str = "y", n: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], target: np.where(x[:, 0] > 0, "yes", "no")}).to_csv(path, index=False)
    return path


def _base(**settings):
    return tc.make_config(**{"source": "moons", "n_samples": 80, "epochs": 2, "batch_size": 0, "hidden": [8],
                             **settings})


def test_tune_refuses_an_out_folder_holding_a_run_it_did_not_write(tmp_path):
    # Review #3: `tune --out DIR` retrained into DIR/best with overwrite=True, silently replacing the user's
    # finished run there (other data, other target); `train` to the same folder is refused.
    tc.train(data=str(_table(tmp_path / "other.csv", target="label")), target="label", epochs=2, hidden=[4],
             out=tmp_path / "myruns" / "best", progress="quiet")
    before = (tmp_path / "myruns" / "best" / "model.json").read_bytes()
    one_line(cli_in_process("tune", "--data", str(_table(tmp_path / "base.csv")), "--target", "y", *FAST,
                            "--out", str(tmp_path / "myruns")), "is not a tune folder", "choose another --out")
    with pytest.raises(tc.ConfigError, match="is not a tune folder"):  # the library's default too
        tune(_base(), ["hidden=8"], n_trials=1, out=tmp_path / "myruns")
    assert (tmp_path / "myruns" / "best" / "model.json").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "myruns").iterdir()) == ["best"]


def test_tune_never_writes_its_summary_over_the_data_it_reads(tmp_path):
    # Review #4: `--data t6/trials.csv --out t6` replaced the input table with the trials table.
    data = _table(tmp_path / "t6" / "trials.csv")
    before = data.read_bytes()
    one_line(cli_in_process("tune", "--data", str(data), "--target", "y", *FAST, "--out", str(tmp_path / "t6")),
             "is not a tune folder")
    assert data.read_bytes() == before and sorted(p.name for p in data.parent.iterdir()) == ["trials.csv"]
    # In a folder tune made, its own file names are still not written over the data being read.
    out = tmp_path / "t"
    tune(_base(), ["hidden=8"], n_trials=1, out=out, retrain=False)
    shutil.copy(_table(tmp_path / "base.csv"), out / "trials.csv")
    before = (out / "trials.csv").read_bytes()
    one_line(cli_in_process("tune", "--data", str(out / "trials.csv"), "--target", "y", *FAST, "--out", str(out)),
             "would be replaced by tune's own", "trials.csv")
    assert (out / "trials.csv").read_bytes() == before


def test_an_empty_folder_and_a_tune_folder_are_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    tune(_base(), ["hidden=8"], n_trials=1, out=tmp_path / "empty", retrain=False)
    result = tune(_base(), ["hidden=8"], n_trials=1, out=tmp_path / "empty")  # the same study, continued
    assert len(result.study.trials) == 2 and (tmp_path / "empty" / "best" / "model.json").exists()


def test_a_new_study_in_the_folder_does_not_take_the_old_studys_best_for_its_own(tmp_path):
    # Review #5: a new --study-name on other data reported the old study's best/ (trial 0 too) as "already
    # retrained": only the trial number was compared.
    out = tmp_path / "t"
    tune(_base(), ["hidden=8"], n_trials=1, out=out)
    old = json.loads((out / "best" / "config.json").read_text())
    table = _table(tmp_path / "other.csv", target="label")
    result = tune(_base(source=str(table), target="label", n_samples=None), ["hidden=8"], n_trials=1, out=out,
                  study_name="fresh")
    assert result.best_trial == 0 and "this worker retrained the best trial 0" in result.note
    config = json.loads((out / "best" / "config.json").read_text())
    assert old["data"]["source"] == "moons" and config["data"]["source"] == str(table)
    assert config["data"]["target"] == "label"
    summary = json.loads((out / "tune.json").read_text())
    assert summary["study_name"] == "fresh" and summary["best_run_metrics"] == result.best_run.metrics
    # OUT/best is the new study's trial 0, and not the old study's (same name, same number, other study).
    import optuna

    from torchclassify.tune_study import study_key
    from torchclassify.tune_summary import retrained

    old_study = optuna.load_study(study_name="torchclassify", storage=f"sqlite:///{out / 'study.db'}")
    assert retrained(out, study_key(result.study), 0) and not retrained(out, study_key(old_study), 0)


def test_a_study_continues_only_on_the_same_data_and_fixed_settings(tmp_path):
    # Review #6: rerunning into the same --out with other --data/--target (or --epochs) joined the old study;
    # trials scored on different data were ranked together and the "best" retrained.
    base, other = _table(tmp_path / "base.csv"), _table(tmp_path / "other.csv", target="label", n=40, seed=1)
    out = tmp_path / "t3"
    assert cli_in_process("tune", "--data", str(base), "--target", "y", *FAST, "--out", str(out)).returncode == 0
    one_line(cli_in_process("tune", "--data", str(other), "--target", "label", *FAST, "--out", str(out)),
             "was scored on other data", "'y' became 'label'", "--study-name")
    edited = pd.read_csv(base)
    edited.loc[0, "y"] = "yes" if edited.loc[0, "y"] == "no" else "no"
    edited.to_csv(tmp_path / "edited.csv", index=False)  # same columns and rows, one label changed
    one_line(cli_in_process("tune", "--data", str(tmp_path / "edited.csv"), "--target", "y", *FAST, "--out",
                            str(out)), "the labels changed")
    fast = [a if a != "2" else "3" for a in FAST]  # --epochs 3
    one_line(cli_in_process("tune", "--data", str(base), "--target", "y", *fast, "--out", str(out)),
             "was scored with epochs=2 (now 3)")
    import optuna

    study = optuna.load_study(study_name="torchclassify", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 1
    # The same rows under another path, on another thread count: the study goes on; a new --study-name starts
    # another one in the same folder.
    shutil.copy(base, tmp_path / "copy.csv")
    assert cli_in_process("tune", "--data", str(tmp_path / "copy.csv"), "--target", "y", *FAST, "--threads", "1",
                          "--out", str(out)).returncode == 0
    assert cli_in_process("tune", "--data", str(other), "--target", "label", *FAST, "--out", str(out),
                          "--study-name", "other").returncode == 0
    study = optuna.load_study(study_name="torchclassify", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 2


def test_a_trial_reports_to_the_storage_on_the_pruners_interval(tmp_path):
    result = tune(_base(epochs=25), ["hidden=8"], n_trials=1, out=tmp_path / "t", retrain=False)
    (trial,) = result.study.trials
    assert sorted(trial.intermediate_values) == [1, 10, 20] and trial.user_attrs["epochs"] == 25
    pruner = result.study.pruner
    assert (pruner._n_warmup_steps, pruner._interval_steps) == (10, 10)  # the epochs the callback reports


def test_an_image_study_continues_from_the_same_folder_spelled_another_way_but_not_on_edited_images(tmp_path):
    # Review: the study hashed the image paths as spelled, so imgs and /abs/imgs were "other data", and an image
    # edited in place was not seen at all.
    from torchclassify.data.image_export import export_digits_images

    export_digits_images(tmp_path / "imgs", limit_per_class=4)
    command = ["tune", "--epochs", "1", "--trials", "1", "--space", "hidden=4", "--conv", "2", "--no-retrain",
               "--quiet", "--out", str(tmp_path / "search")]
    assert cli_in_process(*command, "--data", "imgs", cwd=tmp_path).returncode == 0
    assert cli_in_process(*command, "--data", str(tmp_path / "imgs")).returncode == 0
    image = sorted((tmp_path / "imgs" / "3").glob("*.png"))[0]
    image.write_bytes(sorted((tmp_path / "imgs" / "5").glob("*.png"))[0].read_bytes())
    result = cli_in_process(*command, "--data", str(tmp_path / "imgs"))  # (a tiny set: the split warns first)
    assert result.returncode == 2 and result.stderr.splitlines()[-1].startswith("error: the study 'torchclassify' "
                                                                                 "was scored on other data")


def test_a_study_in_a_shared_storage_says_to_name_a_new_study_not_a_new_folder(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    data = _table(tmp_path / "d.csv")
    command = ["tune", "--data", str(data), "--target", "y", "--batch-size", "full", "--trials", "1",
               "--space", "hidden=8", "--quiet", "--no-retrain", "--storage", storage]
    assert cli_in_process(*command, "--epochs", "2", "--out", str(tmp_path / "a")).returncode == 0
    message = one_line(cli_in_process(*command, "--epochs", "3", "--out", str(tmp_path / "b")), "epochs=2 (now 3)")
    assert "--study-name" in message and "--out" not in message.split(":", 2)[-1]
