"""lr-find: the range test's curve, a suggestion on the falling slope, and that it trains well."""

from __future__ import annotations

import json
import math

import pytest

import torchclassify as tc
from torchclassify.cli import main
from torchclassify.lr_find import lr_find, suggest_lr

pytestmark = pytest.mark.usefixtures("one_thread")


def test_suggestion_sits_on_the_falling_slope_below_the_minimum():
    lrs = [10 ** (-6 + 0.05 * i) for i in range(120)]  # 1e-6 .. ~1
    # Flat, then falling between 1e-4 and 1e-2, lowest near 3e-2, then blowing up.
    losses = [0.7 if lr < 1e-4 else 0.7 - 0.3 * math.log10(lr / 1e-4) if lr < 3e-2 else 0.0 + 2 * (lr - 3e-2) + 0.02
              for lr in lrs]
    suggestion, lr_min_loss = suggest_lr(lrs, losses)
    assert 1e-4 < suggestion < 3e-3 < lr_min_loss
    assert suggestion <= lr_min_loss / 10


@pytest.mark.parametrize("source, optimizer, settings, floor", [
    ("circles", "adamw", {"n_samples": 400}, 0.95),
    ("moons", "adamw", {"n_samples": 400}, 0.95),
    ("iris", "adamw", {}, 0.9),
    ("wine", "adamw", {}, 0.9),
    ("wine", "sgd", {}, 0.9),
    ("breast_cancer", "adamw", {}, 0.93),
])
def test_the_suggestion_trains_well_on_the_built_in_datasets(source, optimizer, settings, floor):
    result = lr_find(source=source, optimizer=optimizer, **settings)
    assert 1e-6 < result.suggestion < result.lr_min_loss
    assert len(result.lrs) == len(result.losses) >= 50
    run = tc.train(data=source, optimizer=optimizer, lr=result.suggestion, progress="quiet", **settings)
    assert run.metrics["valid"]["accuracy"] >= floor
    assert not any("diverged" in s or "NaN" in s for s in run.summary["diagnosis"])


def test_a_range_that_starts_too_high_is_refused():
    with pytest.raises(tc.TrainingError, match="start the range lower"):
        lr_find(source="moons", n_samples=200, hidden=[64, 64], optimizer="sgd", start_lr=50, end_lr=1e4)
    with pytest.raises(tc.ConfigError, match="0 < --start-lr < --end-lr"):
        lr_find(source="moons", start_lr=1, end_lr=0.1)


def test_cli_writes_the_plot_and_prints_a_train_command(tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["lr-find", "--data", "moons", "--n-samples", "200", "--steps", "80", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    info = json.loads((out / "lr_find.json").read_text())
    assert f"--lr {info['suggestion']:.3g}" in printed and "suggested learning rate" in printed
    assert (out / "lr_find.png").stat().st_size > 0 and (out / "lr_find.csv").read_text().startswith("lr,loss")
    assert main(["lr-find", "--data", "moons", "--steps", "3", "--out", str(out)]) == 2
    assert "takes 10 to 20,000 --steps" in capsys.readouterr().err


def test_on_a_large_table_it_says_that_train_scales_the_rate_with_the_ensembles_batch(tmp_path, capsys):
    # From 20,000 training rows an ensemble of two trains 256 rows a member at --lr times 4 (the large-ensemble
    # rule); the range test runs at the batch before that rule (128 rows a member), so train's rate per row is
    # twice the test's and the note says which --lr keeps the test's.
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(34_000, 6))
    frame = pd.DataFrame(X, columns=list("abcdef")).assign(y=np.where(X[:, 0] + X[:, 1] > 0, "p", "q"))
    frame.to_csv(tmp_path / "large.csv", index=False)
    assert main(["lr-find", "--data", str(tmp_path / "large.csv"), "--target", "y", "--steps", "20", "--out",
                 str(tmp_path / "lr")]) == 0
    info = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert (info["batch_size"], info["train_batch_size"], info["train_lr_factor"]) == (256, 512, 4)
    printed = capsys.readouterr().out
    assert "train takes batches of 512 rows at --lr times 4 (batches of 256 here), 2 times this test's rate " \
           f"per row: --lr {info['suggestion'] / 2:.3g} keeps" in printed
    assert "train_batch_size" not in lr_find(data=frame.iloc[:5_000], target="y", n_steps=20).info  # (one rule)
    assert "train_batch_size" not in lr_find(data=frame, target="y", n_steps=20, batch_size=512).info  # (as set)


def test_where_train_changes_the_rate_per_row_lr_find_says_by_how_much(tmp_path, capsys, monkeypatch):
    # The rule multiplies the rate by 4 whatever the batch it replaces: where that batch is not 256 rows a
    # member, the suggestion passed as it is trains at another rate per row, and the note gives the rate that does not.
    import numpy as np
    import pandas as pd

    from torchclassify.engine import defaults

    monkeypatch.setattr(defaults, "LARGE_ENSEMBLE_ROWS", 1_000)  # a small table stands for a large one
    monkeypatch.setattr(defaults, "LARGE_MEMBER_BATCH", 128)  # 512 rows a step for four members, against 256
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 6))
    frame = pd.DataFrame(X, columns=list("abcdef")).assign(y=np.where(X[:, 0] > 0, "p", "q"))
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["lr-find", "--data", str(tmp_path / "t.csv"), "--target", "y", "--steps", "20", "--out",
                 str(tmp_path / "lr")]) == 0
    info = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert (info["batch_size"], info["train_batch_size"], info["train_lr_factor"]) == (256, 512, 4)
    assert f"2 times this test's rate per row: --lr {info['suggestion'] / 2:.3g} keeps" in capsys.readouterr().out


def test_lr_find_refuses_to_write_over_its_data_and_impossible_ranges(tmp_path, capsys):
    # Review: --out FOLDER holding the data as lr_find.csv replaced the data with the curve; --end-lr inf
    # said "the loss diverged"; --steps 60000 ran for minutes in the suggestion's quadratic search.
    import pandas as pd

    data = tmp_path / "lr_find.csv"
    pd.DataFrame({"a": range(40), "y": [0, 1] * 20}).to_csv(data, index=False)
    before = data.read_bytes()
    assert main(["lr-find", "--data", str(data), "--target", "y", "--out", str(tmp_path)]) == 2
    assert "which this command reads" in capsys.readouterr().err and data.read_bytes() == before
    assert main(["lr-find", "--data", "iris", "--end-lr", "inf", "--out", str(tmp_path / "x")]) == 2
    assert "both finite" in capsys.readouterr().err
    assert main(["lr-find", "--data", "iris", "--steps", "60000", "--out", str(tmp_path / "x")]) == 2
    assert "10 to 20,000 --steps" in capsys.readouterr().err


def test_the_suggestion_is_the_first_longest_descent_whatever_the_ties():
    # suggest_lr's vectorised search against the plain double loop it replaced, ties included.
    import random

    def by_double_loop(losses):
        lds, start = [1] * len(losses), list(range(len(losses)))
        for i in range(1, len(losses)):
            for j in range(i):
                if losses[i] < losses[j] and lds[j] + 1 > lds[i]:
                    lds[i], start[i] = lds[j] + 1, start[j]
        end = max(range(len(losses)), key=lambda i: (lds[i], -i))
        return start[end] + (end - start[end]) * 2 // 3

    rng = random.Random(0)
    for _ in range(200):
        losses = [round(rng.random(), rng.choice([1, 3])) for _ in range(rng.randint(1, 80))]
        lrs = [10.0 ** (k / 10) for k in range(len(losses))]
        assert suggest_lr(lrs, losses)[0] == min(lrs[by_double_loop(losses)], lrs[losses.index(min(losses))] / 10)
