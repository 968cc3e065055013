"""The command line end to end, in subprocesses, as a user runs it: the happy paths and every bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import cli_in_process, make_table, run_cli


@pytest.fixture(scope="module")
def customers(tmp_path_factory):
    """A CSV with string labels, a categorical column and missing values, trained once for the module."""
    folder = tmp_path_factory.mktemp("customers")
    frame, _ = make_table("multiclass", n=400, seed=1)
    frame = frame.rename(columns={"label": "plan"})
    frame.iloc[:300].to_csv(folder / "customers.csv", index=False)
    frame.iloc[300:].to_csv(folder / "other.csv", index=False)
    new = frame.iloc[300:310].drop(columns="plan").copy()
    new.iloc[0, new.columns.get_loc("colour")] = "ultraviolet"  # a category never seen in training
    new.to_csv(folder / "new_rows.csv", index=False)
    result = run_cli("train", "--data", "customers.csv", "--target", "plan", "--out", "runs/customers",
                     "--epochs", "40", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_train_prints_metrics_and_writes_the_run_folder(customers):
    folder, result = customers
    assert "accuracy" in result.stdout and "run folder: runs/customers" in result.stdout
    run = folder / "runs" / "customers"
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "model.safetensors", "model.json", "history.csv", "metrics.json"} <= names
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"} and metrics["test"]["accuracy"] > 0.8
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["target"] == "plan" and config["train"]["epochs"] == 40
    history = pd.read_csv(run / "history.csv")
    assert len(history) >= 1
    assert "epoch" in result.stderr  # progress lines when piped
    # The epochs' own time is told apart from the whole call, which also loads data and imports libraries.
    summary = json.loads((run / "model.json").read_text())["info"]["summary"]
    assert summary["train_seconds"] == pytest.approx(history["seconds"].sum(), abs=1e-3)
    assert 0 < summary["train_seconds"] < summary["seconds"]
    assert f"epochs in {summary['train_seconds']:.1f}s" in result.stdout
    progress_seconds = float(re.search(r"trained \d+ epochs in ([\d.]+)s", result.stderr).group(1))
    assert progress_seconds == pytest.approx(summary["train_seconds"], abs=0.051)  # the same figure, on stderr


def test_predict_returns_original_labels_with_unseen_category(customers):
    folder, _ = customers
    result = cli_in_process("predict", "runs/customers", "new_rows.csv", "--proba", "-o", "predictions.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == 10
    assert set(predictions["plan"]) <= {"high", "low", "mid"}
    proba = predictions[["proba_high", "proba_low", "proba_mid"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


# What each path must not pull in (seconds of cold start each): the report's plotting stack, scikit-learn
# with scipy, torchmetrics, torch._dynamo (imported by every torch.optim optimizer's constructor), and the
# trackers, imported only by --track (MLflow alone takes 2-3 s).
_HEAVY = ("torch", "numpy", "pandas", "sklearn", "scipy", "matplotlib", "torchmetrics", "torch._dynamo", "mlflow",
          "tensorboard")
_IMPORTED = """
import json, sys
from torchclassify.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:  # --help
    code = exit.code
print(json.dumps([code, sorted(m for m in {heavy!r} if m in sys.modules)]), file=sys.stderr)
"""


def _imported_heavy(argv: list[str], heavy: tuple[str, ...], cwd=None) -> tuple[int, list[str]]:
    """Run the CLI in a fresh interpreter: (exit code, which of `heavy` it imported)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _IMPORTED.format(heavy=heavy), *argv], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    return tuple(json.loads(result.stderr.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library():
    """--help must stay instant: commands/ import their libraries inside run(), never at the top."""
    code, imported = _imported_heavy(["train", "--help"], _HEAVY)
    assert code == 0 and imported == []
    code, imported = _imported_heavy([], _HEAVY)  # no command: prints the help
    assert code == 2 and imported == []


def test_predict_imports_neither_training_nor_plotting_libraries(customers):
    folder, _ = customers
    heavy = ("sklearn", "scipy", "matplotlib", "torchmetrics", "torch._dynamo", "mlflow", "tensorboard")
    code, imported = _imported_heavy(["predict", "runs/customers", "new_rows.csv", "--proba", "-o", "p.csv"],
                                     heavy, cwd=folder)
    assert code == 0 and imported == []


def test_evaluate_on_other_rows(customers):
    folder, _ = customers
    result = cli_in_process("evaluate", "runs/customers", "--data", "other.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "100" in result.stdout  # 100 rows evaluated


def test_rerun_from_config_is_identical(customers):
    folder, _ = customers
    result = cli_in_process("train", "--config", "runs/customers/config.json", "--out", "runs/again", "--quiet", cwd=folder)
    assert result.returncode == 0, result.stderr
    first = json.loads((folder / "runs/customers/metrics.json").read_text())
    second = json.loads((folder / "runs/again/metrics.json").read_text())
    assert first == second
    assert (folder / "runs/customers/model.safetensors").read_bytes() == (folder / "runs/again/model.safetensors").read_bytes()


def test_multilabel_end_to_end(tmp_path):
    frame, _ = make_table("multilabel", n=300)
    frame.to_csv(tmp_path / "songs.csv", index=False)
    result = cli_in_process("train", "--data", "songs.csv", "--target", "tag_*", "--task", "multilabel", "--out", "run",
                     "--epochs", "30", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "f1_micro" in result.stdout and "hamming_loss" in result.stdout
    frame.drop(columns=["tag_pos", "tag_red", "tag_big"]).head(5).to_csv(tmp_path / "rows.csv", index=False)
    result = cli_in_process("predict", "run", "rows.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(out.columns) == ["tag_pos", "tag_red", "tag_big"] and len(out) == 5


def test_builtin_dataset_train_and_evaluate(tmp_path):
    result = cli_in_process("train", "--data", "iris", "--out", "iris", "--epochs", "30", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "setosa" in result.stdout  # per-class table uses the real class names
    result = cli_in_process("evaluate", "iris", "--data", "iris", cwd=tmp_path)
    assert result.returncode == 0 and "accuracy" in result.stdout


def test_datasets_and_help():
    result = cli_in_process("datasets")
    assert result.returncode == 0
    for name in ("circles", "moons", "blobs", "spirals", "xor", "multilabel", "iris", "wine", "breast_cancer",
                 "digits"):
        assert name in result.stdout
    assert run_cli("--help").returncode == 0


@pytest.fixture(scope="module")
def bad_input_folder(tmp_path_factory):
    """A trained model, a corrupted copy, a foreign model.json and the broken tables the cases below use."""
    folder = tmp_path_factory.mktemp("bad")
    trained = cli_in_process("train", "--data", "circles", "--out", "model", "--epochs", "2", "--quiet", cwd=folder)
    assert trained.returncode == 0, trained.stderr
    corrupt = folder / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.json").write_bytes((folder / "model" / "model.json").read_bytes())
    (corrupt / "model.safetensors").write_bytes(b"\x80\x04\x95garbage-that-is-not-safetensors" * 4)
    foreign = folder / "foreign"
    foreign.mkdir()
    (foreign / "model.json").write_text('{"format": "keras", "layers": []}')
    pd.DataFrame({"a": [1, 2, 3, 4], "y": ["u", "u", "u", "u"]}).to_csv(folder / "one_class.csv", index=False)
    pd.DataFrame({"a": [1, 2, 3, 4], "y": [np.nan] * 4}).to_csv(folder / "nan_target.csv", index=False)
    pd.DataFrame({"a": [1, 2, 3, 4], "y": [0, 1, np.inf, 1]}).to_csv(folder / "inf_target.csv", index=False)
    (folder / "empty.csv").write_text("")
    (folder / "header_only.csv").write_text("a,y\n")
    pd.DataFrame({"a": [1.0], "zzz": [2.0]}).to_csv(folder / "wrong_columns.csv", index=False)
    return folder


BAD_INPUTS = [  # (argv, expected message fragment): every bad input the CLI must refuse with exit 2
    (["train", "--data", "nope.csv", "--target", "y"], "file not found"),
    (["train", "--data", "circlez"], "unknown dataset 'circlez'"),
    (["train", "--data", "one_class.csv", "--target", "label"], "target column 'label' not found"),
    (["train", "--data", "one_class.csv"], "--target is required"),
    (["train", "--data", "one_class.csv", "--target", "y"], "at least 2 classes"),
    (["train", "--data", "nan_target.csv", "--target", "y"], "no row of nan_target has a value in y"),
    (["train", "--data", "inf_target.csv", "--target", "y"], "infinite"),
    (["train", "--data", "empty.csv", "--target", "y"], "is empty"),
    (["train", "--data", "header_only.csv", "--target", "y"], "no data rows"),
    (["train", "--data", "blobs", "--task", "binary"], "exactly 2 classes"),
    (["train", "--data", "circles", "--dropout", "1.5"], "--dropout must be"),
    (["predict", "model", "wrong_columns.csv"], "lacks 2 column(s)"),
    (["predict", ".", "wrong_columns.csv"], "not a torchclassify model folder"),
    (["predict", "corrupt", "wrong_columns.csv"], "not a safetensors file"),
    (["predict", "foreign", "wrong_columns.csv"], "not a torchclassify model file"),
    (["evaluate", "nowhere", "--data", "circles"], "model folder not found"),
]


@pytest.mark.parametrize("argv, fragment", BAD_INPUTS, ids=[" ".join(argv[:3]) for argv, _ in BAD_INPUTS])
def test_every_bad_input_gets_one_line_and_exit_2(bad_input_folder, argv, fragment):
    before = sorted(p.name for p in bad_input_folder.iterdir())
    result = cli_in_process(*argv, cwd=bad_input_folder)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    # Nothing half-written: no temporary run folders or files were left behind.
    assert sorted(p.name for p in bad_input_folder.iterdir()) == before


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "train", "--data", "circlez", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_existing_out_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = cli_in_process("train", "--data", "circles", "--out", "taken", cwd=tmp_path)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_every_config_setting_has_a_train_flag():
    """Each setting of config.py must be a `train` flag, or it would be silently unreachable."""
    from torchclassify.cli import build_parser
    from torchclassify.config import SETTINGS

    train = build_parser()[2]["train"]
    dests = {action.dest for action in train._actions}
    assert set(SETTINGS) <= dests, set(SETTINGS) - dests
