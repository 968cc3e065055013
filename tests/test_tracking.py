"""--track mlflow / tensorboard: what a run logs, read back through MLflow's own client and TensorBoard's own
event reader; nested runs for compare and tune; FAILED / KILLED endings; a missing library is one line."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

import torchclassify as tc
from _faults import InterruptAt, PoisonWeights
from conftest import cli_in_process
from torchclassify.compare import compare
from torchclassify.errors import ConfigError, TrainingError
from torchclassify.tracking.base import flat_settings
from torchclassify.tune import tune

if not os.environ.get("CI"):  # CI installs both (the test extra) and must run these tests, not skip them
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

SMALL = dict(data="moons", n_samples=200, hidden=[16], epochs=3, batch_size=32, progress="quiet")
RUN_FILES = {"config.json", "history.csv", "metrics.json", "model.json", "model.safetensors", "report.html",
             "train_rows.safetensors"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The folder every test of this module runs in: its ./mlruns is the one MLflow store they share (creating
    an MLflow database takes seconds)."""
    return tmp_path_factory.mktemp("tracking")


@pytest.fixture(autouse=True)
def in_store(store, monkeypatch, one_thread):
    monkeypatch.chdir(store)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


def client() -> MlflowClient:
    return MlflowClient("sqlite:///mlruns/mlflow.db")


def runs_named(name: str):
    experiment = client().get_experiment_by_name("torchclassify")
    return client().search_runs([experiment.experiment_id], f"attributes.run_name = '{name}'")


def steps(run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client().get_metric_history(run_id, key))


def assert_one_value_per_epoch(logged: list[tuple[int, float]], history: list[dict], key: str) -> None:
    """logged: (step, value) pairs; they must be the history's epochs, each once, with its values."""
    assert [step for step, _ in logged] == [record["epoch"] for record in history], key
    assert [value for _, value in logged] == pytest.approx([record[key] for record in history]), key


def artifacts(run_id: str, path: str | None = None) -> set[str]:
    return {os.path.basename(a.path) for a in client().list_artifacts(run_id, path)}


def scalars(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder))
    events.Reload()
    return events


def test_mlflow_logs_settings_epochs_final_metrics_and_the_run_folder(store):
    run = tc.train(out=store / "plain", track="mlflow", **SMALL)
    assert run.tracked["mlflow"]["tracking_uri"] == "sqlite:///mlruns/mlflow.db"  # the default: ./mlruns
    assert (store / "mlruns" / "mlflow.db").exists()
    logged = client().get_run(run.tracked["mlflow"]["run_id"])
    assert logged.info.status == "FINISHED" and logged.info.run_name == "plain"
    # The settings as the run resolved them (batch size, task...), flat, as config.json holds them.
    assert logged.data.params == {k: str(v) for k, v in flat_settings(run.config).items()}
    assert logged.data.params["task"] == "binary" and logged.data.params["hidden"] == "16"
    for key in ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "lr"):
        assert_one_value_per_epoch(steps(logged.info.run_id, key), run.history, key)
    assert len(run.history) == 3
    for split in ("valid", "test"):
        assert logged.data.metrics[f"{split}/accuracy"] == pytest.approx(run.metrics[split]["accuracy"])
        assert logged.data.metrics[f"{split}/roc_auc"] == pytest.approx(run.metrics[split]["roc_auc"])
    assert artifacts(logged.info.run_id) == {"report.html", "plain"}
    assert artifacts(logged.info.run_id, "plain") == RUN_FILES
    # The files went beside the database, and the run folder is what it always is.
    assert str(store / "mlruns" / "artifacts") in logged.info.artifact_uri
    assert set(os.listdir(run.run_dir)) == RUN_FILES


def test_tensorboard_writes_one_scalar_per_epoch_into_the_run_folder(store):
    run = tc.train(out=store / "tb", track="tensorboard", **SMALL)
    assert set(os.listdir(run.run_dir)) == RUN_FILES | {"tensorboard"}
    assert run.tracked["tensorboard"] == str(store / "tb" / "tensorboard")
    events = scalars(store / "tb" / "tensorboard")
    for key, tag in (("train_loss", "loss/train"), ("valid_loss", "loss/valid"), ("train_accuracy", "accuracy/train"),
                     ("valid_accuracy", "accuracy/valid"), ("lr", "lr")):
        assert_one_value_per_epoch([(e.step, e.value) for e in events.Scalars(tag)], run.history, key)
    (curves,) = events.Images("curves")  # the report's curves figure, at the last epoch
    assert curves.step == 3 and curves.width > 300 and curves.height > 150
    assert tc.load(run.run_dir).predict(tc.load_data("moons", n_samples=20).X).shape == (20,)  # still loads


def test_the_command_line_tracks_to_a_given_store_and_says_where(store, tmp_path):
    uri = f"sqlite:///{store / 'mlruns' / 'mlflow.db'}"  # the same store spelt absolute, from another folder
    result = cli_in_process("train", "--data", "moons", "--n-samples", "200", "--epochs", "2", "--hidden", "16",
                            "--out", "runs/cli", "--track", "mlflow", "--track", "tensorboard", "--tracking-uri", uri,
                            "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"(view: mlflow ui --backend-store-uri {uri})" in result.stdout
    assert "tensorboard --logdir runs/cli/tensorboard" in result.stdout
    assert not (tmp_path / "mlruns").exists()
    (logged,) = runs_named("cli")
    assert logged.info.status == "FINISHED" and "tensorboard" in artifacts(logged.info.run_id, "cli")
    assert len(steps(logged.info.run_id, "train_loss")) == 2


def test_compare_nests_a_run_per_variant_and_seed_under_one_parent(store):
    base = tc.make_config(source="moons", n_samples=200, hidden=[16], epochs=2, batch_size=32)
    result = compare(base, [{"lr": 0.01}, {"lr": 0.05}], seeds=[0, 1], out=store / "cmp", track="mlflow")
    (parent,) = runs_named("cmp")
    assert parent.info.status == "FINISHED" and parent.data.tags["torchclassify.command"] == "compare"
    assert parent.data.tags["torchclassify.best_variant"] == result.ranking[0]["variant"]
    assert {"ranking.csv", "runs.csv", "compare.html", "curves.png"} <= artifacts(parent.info.run_id)
    children = client().search_runs([parent.info.experiment_id],
                                    f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.info.run_name for c in children) == ["lr=0.01 seed=0", "lr=0.01 seed=1", "lr=0.05 seed=0",
                                                         "lr=0.05 seed=1"]
    for child in children:
        assert child.info.status == "FINISHED" and child.data.params["lr"] in ("0.01", "0.05")
        assert [step for step, _ in steps(child.info.run_id, "valid_loss")] == [1, 2]


def test_tune_nests_a_run_per_trial_and_writes_tensorboard_per_trial(store):
    base = tc.make_config(source="moons", n_samples=200, epochs=3, batch_size=32)
    result = tune(base, {"lr": {"low": 1e-3, "high": 1e-1, "log": True}, "hidden": "16", "optimizer": "adam",
                         "dropout": 0.0, "weight_decay": 1e-4},
                  n_trials=3, out=store / "tune", sampler_seed=0, track=["mlflow", "tensorboard"])
    (parent,) = runs_named("tune")
    assert parent.info.status == "FINISHED" and parent.data.tags["torchclassify.command"] == "tune"
    assert parent.data.metrics["best_valid_accuracy"] == pytest.approx(result.best_value)
    assert {"trials.csv", "tune.json", "tune.html"} <= artifacts(parent.info.run_id)
    children = client().search_runs([parent.info.experiment_id],
                                    f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.info.run_name for c in children) == ["best", "trial 0", "trial 1", "trial 2"]
    assert all(c.info.status == "FINISHED" for c in children)
    for trial in range(3):
        events = scalars(store / "tune" / "tensorboard" / f"trial-{trial:04d}")
        assert [e.step for e in events.Scalars("loss/valid")] == [1, 2, 3]
    assert [e.step for e in scalars(store / "tune" / "best" / "tensorboard").Scalars("loss/train")] == [1, 2, 3]


def test_ctrl_c_ends_the_run_killed_and_the_resumed_run_logs_every_epoch_once(store):
    settings = {**SMALL, "epochs": 5}
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=store / "stopped", track=["mlflow", "tensorboard"], callbacks=[InterruptAt(3)],
                 checkpoint_every=1, **settings)
    (killed,) = runs_named("stopped")
    assert killed.info.status == "KILLED" and [s for s, _ in steps(killed.info.run_id, "train_loss")] == [1, 2, 3]
    assert not (store / "stopped").exists()  # nothing half-written: only the resumable OUT.partial/
    resumed = tc.train(resume=store / "stopped", track=["mlflow", "tensorboard"], progress="quiet")
    done = client().get_run(resumed.tracked["mlflow"]["run_id"])
    assert done.info.status == "FINISHED"
    assert_one_value_per_epoch(steps(done.info.run_id, "train_loss"), resumed.history, "train_loss")
    assert [e.step for e in scalars(store / "stopped" / "tensorboard").Scalars("loss/train")] == [1, 2, 3, 4, 5]


def test_a_failed_run_ends_failed_with_the_epochs_it_trained(store):
    with pytest.raises(TrainingError):
        tc.train(out=store / "nan", track=["mlflow", "tensorboard"], callbacks=[PoisonWeights(2)], **SMALL)
    (failed,) = runs_named("nan")
    # Every epoch it trained, the one whose loss turned NaN included: where the run went wrong shows.
    assert failed.info.status == "FAILED" and [s for s, _ in steps(failed.info.run_id, "train_loss")] == [1, 2, 3]
    assert math.isnan(steps(failed.info.run_id, "train_loss")[-1][1])
    assert not (store / "nan").exists()


def test_a_store_failing_mid_run_warns_once_and_the_run_completes(store, monkeypatch):
    def refuse(self, run_id, metrics=(), params=(), tags=(), **kwargs):
        if metrics:
            raise ConnectionError("the server went away")
        return original(self, run_id, metrics=metrics, params=params, tags=tags, **kwargs)

    original = MlflowClient.log_batch
    monkeypatch.setattr(MlflowClient, "log_batch", refuse)
    with pytest.warns(UserWarning, match="MLflow tracking stopped while logging metrics .*the run folder is "
                                         "unaffected") as caught:
        run = tc.train(out=store / "flaky", track="mlflow", **SMALL)
    assert len([w for w in caught if "MLflow" in str(w.message)]) == 1
    assert set(os.listdir(run.run_dir)) == RUN_FILES
    assert client().get_run(run.tracked["mlflow"]["run_id"]).info.status == "FAILED"


@pytest.mark.parametrize("name, package", [("mlflow", "mlflow-skinny"), ("tensorboard", "tensorboard")])
def test_a_missing_library_is_one_line_naming_the_pip_command(store, monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError, as when not installed
    message = (f"--track {name} needs the {package} package, which is not installed: "
               f"pip install 'torchclassify[{name}]' (or pip install {package})")
    with pytest.raises(ConfigError) as info:
        tc.train(out=store / "missing", track=name, **SMALL)
    assert str(info.value) == message
    assert not (store / "missing").exists() and not (store / "missing.partial").exists()
    result = cli_in_process("train", "--data", "moons", "--out", "runs/missing", "--track", name, cwd=store)
    assert result.returncode == 2 and result.stderr == f"error: {message}\n"
    with pytest.raises(ConfigError, match="pip install"):
        compare(None, [{"lr": 0.1}], out=store / "missing-compare", track=name)
    assert not (store / "missing-compare").exists()


def test_tracking_refuses_what_it_cannot_do(store):
    with pytest.raises(ConfigError, match=r"--track 'wandb' is not one of: mlflow, tensorboard"):
        tc.train(track="wandb", **SMALL)
    with pytest.raises(ConfigError, match="--tracking-uri is where MLflow logs: add --track mlflow"):
        tc.train(tracking_uri="http://localhost:5000", **SMALL)
    with pytest.raises(ConfigError, match="--track tensorboard writes its event files into the run folder"):
        tc.train(track="tensorboard", **SMALL)
    with pytest.raises(ConfigError, match="cannot open the MLflow store"):
        tc.train(track="mlflow", tracking_uri="nosuchscheme://x", **SMALL)


def test_a_run_that_does_not_ask_imports_no_tracker(tmp_path):
    code = ("import sys, torchclassify as tc; tc.train(data='moons', n_samples=200, epochs=2, progress='quiet', "
            "out='run'); print(sorted(m for m in ('mlflow', 'tensorboard') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
