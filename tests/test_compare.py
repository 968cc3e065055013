"""compare: grids expand into normal runs, ranked on validation only; the circles story in one command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import torchclassify as tc
from torchclassify.cli import main
from torchclassify.compare import compare, expand_grid, rank, read_grid_file, seed_list

pytestmark = pytest.mark.usefixtures("one_thread")


def test_grid_expands_to_the_product_with_linked_settings_parsed_like_the_flags():
    variants = expand_grid({"hidden": ["none", "16,16"], "optimizer:lr": ["sgd:0.1", ["adam", 0.01]],
                            "weight-decay": [0, "1e-3"]})
    assert len(variants) == 8
    assert variants[0] == {"hidden": [], "optimizer": "sgd", "lr": 0.1, "weight_decay": 0}
    assert variants[-1] == {"hidden": [16, 16], "optimizer": "adam", "lr": 0.01, "weight_decay": 1e-3}
    with pytest.raises(tc.ConfigError, match="not a train setting"):
        expand_grid({"learning_rate": [0.1]})
    with pytest.raises(tc.ConfigError, match="2 values per option"):
        expand_grid({"optimizer:lr": ["sgd"]})
    with pytest.raises(tc.ConfigError, match="--lr 'fast': expected a number"):
        expand_grid({"lr": ["fast"]})
    assert seed_list(3, 5) == [5, 6, 7] and seed_list([1, 9], 0) == [1, 9]


def test_grid_files_in_toml_and_yaml(tmp_path):
    (tmp_path / "g.toml").write_text('seeds = 2\n[base]\ndata = "moons"\n[grid]\nhidden = ["none", [8]]\n')
    raw = read_grid_file(tmp_path / "g.toml")
    assert raw["seeds"] == 2 and raw["base"] == {"data": "moons"}
    assert expand_grid(raw["grid"]) == [{"hidden": []}, {"hidden": [8]}]
    (tmp_path / "g.yaml").write_text("grid:\n  dropout: [0, 0.2]\n")
    assert expand_grid(read_grid_file(tmp_path / "g.yaml")["grid"]) == [{"dropout": 0}, {"dropout": 0.2}]
    (tmp_path / "bad.toml").write_text("[grid]\nhidden = [\n")
    with pytest.raises(tc.ConfigError, match="not valid TOML"):
        read_grid_file(tmp_path / "bad.toml")
    (tmp_path / "odd.toml").write_text("[grids]\n")
    with pytest.raises(tc.ConfigError, match="unknown key"):
        read_grid_file(tmp_path / "odd.toml")


def test_ranking_uses_validation_only_and_reports_mean_and_std():
    def row(variant, valid, test, seed):
        return {"variant": variant, "settings": {}, "seed": seed, "status": "ok", "diagnosis": [],
                "metrics": {"valid": {"accuracy": valid}, "test": {"accuracy": test}},
                "history": [{"epoch": 1, "valid_loss": 1 - valid}]}

    runs = [row("a", 0.80, 0.99, 0), row("a", 0.90, 0.99, 1), row("b", 0.95, 0.50, 0), row("b", 0.93, 0.50, 1),
            {"variant": "c", "settings": {}, "seed": 0, "status": "diverged", "diagnosis": ["lower it"],
             "metrics": {}, "history": []}]
    table = rank(runs, "accuracy")
    assert [r["variant"] for r in table] == ["b", "a", "c"]  # b has the worse test score: test never chooses
    assert table[1]["valid_accuracy_mean"] == pytest.approx(0.85)
    assert table[1]["valid_accuracy_std"] == pytest.approx(math.sqrt(0.005))
    assert table[2]["n_diverged"] == 1 and table[2]["diagnosis"] == ["lower it"]


def test_circles_linear_vs_relu_in_one_command(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--data", "circles", "--n-samples", "300", "--batch-size", "32", "--epochs", "150", "--dropout", "0",
                 "--vary", "hidden", "none", "16,16", "--vary", "optimizer:lr", "sgd:0.1", "adam:0.01",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "comparison.json").read_text())
    ranking = summary["ranking"]
    assert [r["settings"]["hidden"] for r in ranking] == [[16, 16], [16, 16], [], []]
    assert all(r["valid_accuracy_mean"] >= 0.99 for r in ranking[:2])
    for linear in ranking[2:]:
        assert abs(linear["valid_accuracy_mean"] - 0.5) <= 0.1
        assert any("non-linearity" in s for s in linear["diagnosis"])
    assert "non-linearity" in printed and "never used to choose" in printed
    for name in ("ranking.csv", "runs.csv", "curves.png", "compare.html"):
        assert (out / name).stat().st_size > 0
    html = (out / "compare.html").read_text()
    assert "data:image/png;base64," in html and "hidden=16,16 optimizer=sgd lr=0.1" in html
    # Every compared run is a normal run folder whose config.json reruns it to the same result.
    first = next(r for r in summary["runs"] if r["variant"] == ranking[0]["variant"])
    config = tc.RunConfig.from_dict(json.loads((out / "runs" / Path(first["run_dir"]).name / "config.json").read_text()))
    rerun = tc.train(config, progress="quiet")
    assert rerun.metrics["valid"]["accuracy"] == pytest.approx(first["metrics"]["valid"]["accuracy"])


def test_seeds_repeat_each_variant_and_a_diverging_variant_is_kept_and_explained(tmp_path):
    base = tc.make_config(source="moons", n_samples=200, batch_size=16, epochs=8, hidden=[64, 64])
    result = compare(base, [{"optimizer": "adam", "lr": 0.01}, {"optimizer": "sgd", "lr": 9.9}], seeds=[0, 1],
                     out=tmp_path / "c")
    assert [(r["variant"], r["seed"]) for r in result.runs] == [
        ("optimizer=adam lr=0.01", 0), ("optimizer=adam lr=0.01", 1), ("optimizer=sgd lr=9.9", 0),
        ("optimizer=sgd lr=9.9", 1)]
    good, bad = result.ranking
    assert good["n_runs"] == 2 and good["valid_accuracy_std"] >= 0 and good["n_diverged"] == 0
    assert bad["n_diverged"] == 2 and math.isnan(bad["valid_accuracy_mean"])
    assert any("lower the learning rate" in s for s in bad["diagnosis"])
    with pytest.raises(tc.ConfigError, match="holds a different comparison"):  # the same one would continue
        compare(base, [{}], out=tmp_path / "c")


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["compare", "--data", "moons", "--out", str(tmp_path / "x")]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert main(["compare", "--vary", "colour", "red", "--out", str(tmp_path / "x")]) == 2
    assert "cannot vary 'colour'" in capsys.readouterr().err


def test_cli_grid_file_with_base_settings_and_flags_that_win(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('seeds = 2\n[base]\ndata = "moons"\nn-samples = 100\nepochs = 50\n'
                    '[grid]\ndropout = [0, 0.2]\n')
    out = tmp_path / "g"
    assert main(["compare", "--grid", str(grid), "--epochs", "3", "--batch-size", "full", "--out", str(out)]) == 0
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [(r["variant"], r["seed"]) for r in runs] == [("dropout=0", 0), ("dropout=0", 1), ("dropout=0.2", 0),
                                                         ("dropout=0.2", 1)]
    config = json.loads((Path(runs[3]["run_dir"]) / "config.json").read_text())
    assert config["data"]["source"] == "moons" and config["data"]["n_samples"] == 100
    assert config["train"]["epochs"] == 3 and config["model"]["dropout"] == 0.2 and config["train"]["seed"] == 1


def _compare_command(out: Path) -> list[str]:
    return ["compare", "--data", "moons", "--n-samples", "120", "--epochs", "3", "--batch-size", "full",
            "--vary", "hidden", "4", "8", "--seeds", "2", "--out", str(out)]


def test_a_failed_comparison_is_continued_by_rerunning_it(tmp_path, capsys, monkeypatch):
    # Issue 16 #15: rerunning said "exists, use --overwrite", which retrained everything.
    import torchclassify.compare as compare_module

    out = tmp_path / "cmp"
    real_train, calls, killed = compare_module.train, [], []

    def failing_train(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 3 and not killed:
            killed.append(True)
            raise KeyboardInterrupt  # killed during the third run (nothing of it kept: no checkpoint yet)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(compare_module, "train", failing_train)
    assert main(_compare_command(out)) == 130
    finished = sorted(p.name for p in (out / "runs").iterdir())
    assert finished == ["hidden=4_seed=0", "hidden=4_seed=1"]
    first = {name: (out / "runs" / name / "model.safetensors").stat().st_mtime_ns for name in finished}
    calls.clear()
    capsys.readouterr()
    assert main(_compare_command(out)) == 0
    err = capsys.readouterr().err
    assert "2 of 4 runs already finished are reused, not retrained" in err
    assert len(calls) == 2  # only the two runs that never finished were trained
    assert {name: (out / "runs" / name / "model.safetensors").stat().st_mtime_ns for name in finished} == first
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok"] * 4 and len({r["run_dir"] for r in runs}) == 4
    # A different command on the same folder is refused in one line; --overwrite starts again.
    assert main(_compare_command(out)[:-2] + ["--lr", "0.5", "--out", str(out)]) == 2
    assert "holds a different comparison" in capsys.readouterr().err
    calls.clear()
    assert main(_compare_command(out) + ["--overwrite"]) == 0 and len(calls) == 4


def test_a_comparison_killed_mid_run_resumes_that_run(tmp_path):
    import subprocess
    import sys
    import time

    from conftest import run_cli

    out = tmp_path / "cmp"
    command = ["compare", "--data", "moons", "--n-samples", "120", "--batch-size", "full", "--epochs", "8000",
               "--no-early-stopping", "--vary", "hidden", "8", "--out", str(out)]
    process = subprocess.Popen([sys.executable, "-m", "torchclassify", *command], stderr=subprocess.PIPE)
    partial = out / "runs" / "hidden=8_seed=0.partial" / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not partial.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.kill()
    process.wait(30)
    assert partial.exists()
    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    assert "0 of 1 runs already finished" in result.stderr
    assert (out / "runs" / "hidden=8_seed=0" / "model.json").exists() and not partial.parent.exists()


def test_variants_whose_folder_names_would_clash_get_their_own_folders():
    # Review: drop=ä and drop=ö both went to runs/drop=_seed=0, so the second reported the first's numbers.
    from torchclassify.compare_plan import run_folders

    plan = [{"variant": "drop=ä", "seed": 0}, {"variant": "drop=ö", "seed": 0}, {"variant": "hidden=8", "seed": 0}]
    folders = run_folders(plan)
    assert len(set(folders)) == 3 and folders[2] == "hidden=8_seed=0"
    long = [{"variant": "x" * 300, "seed": s} for s in (0, 1)]
    assert run_folders(long)[0].endswith("_seed=0") and run_folders(long)[1].endswith("_seed=1")
    with pytest.raises(tc.ConfigError, match="listed twice"):
        run_folders([{"variant": "hidden=8", "seed": 0}, {"variant": "hidden=8", "seed": 0}])


def test_ctrl_c_in_a_variant_says_to_rerun_the_comparison_not_that_run(tmp_path, capsys, monkeypatch):
    # Review: Ctrl-C said "resume with: torchclassify train --resume OUT/runs/<run>", which finishes one run
    # and leaves the comparison unfinished.
    import torchclassify.compare as compare_module
    from _faults import InterruptAt

    real_train = compare_module.train
    monkeypatch.setattr(compare_module, "train", lambda *a, **k: real_train(*a, callbacks=[InterruptAt(2)], **k))
    assert main(_compare_command(tmp_path / "cmp")) == 130
    err = capsys.readouterr().err
    assert "resume with: the same compare again, without --overwrite" in err and "train --resume" not in err


@pytest.mark.parametrize("vary, message", [
    (["class_weight", "0=2", "7=3"], "variant class_weight=7=3: --class-weight names ['7'], which are not classes"),
    (["positive", "1", "nope"], "variant positive=nope: --positive 'nope' is not a class of the target"),
])
def test_a_variant_that_cannot_work_on_the_data_fails_before_any_run(tmp_path, capsys, monkeypatch, vary, message):
    # Review: a bad data-dependent value in the last variant surfaced only after every other variant trained.
    import torchclassify.compare as compare_module

    trained = []
    monkeypatch.setattr(compare_module, "train", lambda *a, **k: trained.append(k))
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "moons", "--n-samples", "100", "--epochs", "2", "--vary", *vary,
                 "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not trained and not out.exists()
