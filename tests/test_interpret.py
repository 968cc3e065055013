"""interpret.py and `torchclassify inspect`, on data where the answer is known: a planted mislabelled row tops
the losses, a pure-noise column has no importance, Shapley values of a linear model are w * (x - baseline)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix, log_loss

import torchclassify as tc
from conftest import cli_in_process, make_table
from torchclassify import interpret
from torchclassify.report import RunView


def _signal_and_noise(n=600, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    frame["label"] = np.where(frame["signal"] + 1.5 * (frame["colour"] == "red") > 0.5, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def trained():
    frame = _signal_and_noise()
    run = tc.train(data=frame, target="label", epochs=30, hidden=[16], lr=0.01, seed=0, progress="quiet")
    return run, frame


def _split(run, frame, name="test"):
    rows = frame.iloc[run.splits[name]]
    return rows.drop(columns="label"), rows["label"]


def test_row_losses_are_the_per_row_log_loss(trained):
    run, frame = trained
    X, y = _split(run, frame)
    y_true, y_proba, loss = interpret.row_losses(run.classifier, X, y)
    assert y_true.tolist() == (y == "yes").astype(int).tolist()  # "yes" is the positive class here
    expected = [log_loss([t], [p], labels=[0, 1]) for t, p in zip(y_true, y_proba)]
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-6)


def test_a_pure_noise_column_has_no_importance(trained):
    run, frame = trained
    X, y = _split(run, frame)
    imp = interpret.permutation_importance(run.classifier, X, y, n_repeats=5).set_index("column")
    assert list(imp.index[:2]) == ["signal", "colour"] or set(imp.index[:2]) == {"signal", "colour"}
    assert imp.loc["signal", "importance"] > 0.3 and imp.loc["colour", "importance"] > 0.1
    assert abs(imp.loc["noise", "importance"]) < 0.03 * imp.loc["signal", "importance"]
    assert (imp["std"] >= 0).all() and imp.loc["signal", "std"] > 0  # a spread over repeats, not one number
    assert (imp["n_rows"] == len(X)).all()
    sampled = interpret.permutation_importance(run.classifier, X, y, n_repeats=2, max_rows=50).set_index("column")
    assert (sampled["n_rows"] == 50).all() and sampled.loc["signal", "importance"] > 0.3


def test_a_planted_mislabelled_row_tops_the_losses(trained):
    run, frame = trained
    X, y = _split(run, frame)
    confident = (X["signal"] + 1.5 * (X["colour"] == "red")).idxmax()  # the row deepest in "yes" territory
    y = y.copy()
    y.loc[confident] = "no"
    top = interpret.top_losses(run.classifier, X, y, n=3)
    assert top.index[0] == confident
    assert top.loc[confident, "truth"] == "no" and top.loc[confident, "predicted"] == "yes"
    assert top.loc[confident, "signal"] == X.loc[confident, "signal"]  # the raw values, not the features
    assert top.loc[confident, "probability"] > 0.9 and top.loc[confident, "p_truth"] < 0.1
    assert list(top["loss"]) == sorted(top["loss"], reverse=True)


def test_confused_pairs_count_as_the_confusion_matrix_does():
    frame, _ = make_table("multiclass", n=300)
    run = tc.train(data=frame, target="label", epochs=2, hidden=[4], seed=0, progress="quiet")
    X, y = _split(run, frame)
    pairs = interpret.confused_pairs(run.classifier, X, y, n=100)
    classes = [str(c) for c in run.classifier.classes]
    matrix = confusion_matrix(y.astype(str), run.classifier.predict(X).astype(str), labels=classes)
    expected = {(classes[i], classes[j]): matrix[i, j] for i in range(3) for j in range(3) if i != j and matrix[i, j]}
    assert {(r.truth, r.predicted): r.count for r in pairs.itertuples()} == expected
    assert list(pairs["count"]) == sorted(pairs["count"], reverse=True)


def _linear(frame, target, **settings):
    settings = {"epochs": 5, **settings}
    return tc.train(data=frame, target=target, hidden=[], seed=0, progress="quiet", **settings)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_shapley_values_of_a_linear_model_are_its_weights_times_the_distance(task):
    """A linear model is additive in its raw columns: each column's exact Shapley value is the sum, over its
    features, of weight * (feature - baseline feature); together they add up to logit(row) - logit(baseline)."""
    frame, target = make_table(task, n=200)
    run = _linear(frame, target)
    clf = run.classifier
    X = frame.drop(columns=target)
    row, background = X.iloc[[3]], X.iloc[run.splits["train"]]
    explained = interpret.explain_row(clf, row, background, n_samples=3).set_index("column")
    z, base = clf.transform(row)[0], clf.transform(background).mean(0)
    weight = next(m for m in clf.model.modules() if isinstance(m, torch.nn.Linear)).weight.detach()
    k = 0 if task == "binary" else int(clf.predict_logits(row).argmax())
    assert interpret.explained_output(clf, row) == str(clf.classes[1 if task == "binary" else k])
    pushed = (weight[k] * (z - base)).numpy()  # (n_inputs,) each feature's push
    groups = interpret.feature_groups(clf)
    for c, name in enumerate(clf.feature_columns):
        assert explained.loc[name, "contribution"] == pytest.approx(pushed[groups == c].sum(), abs=1e-4)
    assert explained.loc["b", "value"] == row["b"].iloc[0] or np.isnan(row["b"].iloc[0])
    logits = clf.model(torch.stack([z, base]))[:, k].detach()
    assert explained["contribution"].sum() == pytest.approx(float(logits[0] - logits[1]), abs=1e-4)


def test_feature_groups_follow_every_kind_of_column():
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"x": rng.normal(size=n), "when": pd.date_range("2020-01-01", periods=n).astype(str),
                          "colour": rng.choice(["red", "blue"], size=n),
                          "note": rng.choice(["free offer now", "meeting at noon", "call me later"], size=n)})
    frame.loc[::7, "x"] = np.nan
    frame["label"] = np.where(frame["x"].fillna(0) > 0, "a", "b")
    clf = tc.train(data=frame, target="label", epochs=1, hidden=[4], text=["note"], progress="quiet").classifier
    groups = interpret.feature_groups(clf)
    names = clf.preprocessor.feature_names_out
    assert len(groups) == len(names) == clf.preprocessor.n_features_out
    owner = {"x": "x", "x_missing": "x", "note~": "note", "colour=": "colour"}
    for name, g in zip(names, groups):
        column = clf.feature_columns[g]
        expected = next((v for k, v in owner.items() if name == k or (k.endswith(("~", "=")) and name.startswith(k))),
                        "when")  # the date parts are named after their part
        assert column == expected, (name, column)


def test_the_words_of_a_text_column_push_by_their_weight():
    """Taking a word out of a linear model moves the logit by exactly weight * tf-idf: the spam word leads."""
    rng = np.random.default_rng(0)
    n = 300
    spam = rng.random(n) < 0.5
    filler = np.array(["see you at the meeting", "the notes are here", "lunch at noon today", "call me at six"])
    note = [f"{rng.choice(filler)} {'win a free prize' if s else ''}".strip() for s in spam]
    frame = pd.DataFrame({"note": note, "links": rng.integers(0, 3, size=n),
                          "label": np.where(spam, "spam", "ham")})
    run = _linear(frame, "label", text=["note"], epochs=30, lr=0.05)
    clf = run.classifier
    row = frame.drop(columns="label")[spam].iloc[[0]]
    words = interpret.word_contributions(clf, row, n=50)
    assert set(words["column"]) == {"note"}
    weight = next(m for m in clf.model.modules() if isinstance(m, torch.nn.Linear)).weight.detach()[0]
    z = clf.transform(row)[0]
    at = int(np.nonzero(interpret.feature_groups(clf) == clf.feature_columns.index("note"))[0][0])
    vocabulary = clf.preprocessor.text[0].vocabulary
    assert len(words) == int((z[at:at + len(vocabulary)] != 0).sum())  # only the row's own terms
    for r in words.itertuples():
        k = at + vocabulary.index(r.term)
        assert r.contribution == pytest.approx(float(weight[k] * z[k]), abs=1e-5)
    assert any(word in words["term"].iloc[0].split() for word in ("win", "free", "prize"))  # a spam-only term
    assert words["contribution"].iloc[0] > 0  # pushes towards spam, the positive class


def test_interpret_leaves_the_callers_random_state_alone(trained):
    run, frame = trained
    X, y = _split(run, frame)
    torch.manual_seed(5)
    np.random.seed(5)
    expected = (torch.rand(1).item(), np.random.rand())
    torch.manual_seed(5)
    np.random.seed(5)
    result = interpret.interpret(run.classifier, X, y, n_repeats=2)
    assert (torch.rand(1).item(), np.random.rand()) == expected
    assert result.row == result.top_losses.index[0] and result.contributions is not None
    assert result.mean_loss == pytest.approx(interpret.mean_loss(run.classifier, X, y))
    assert result.top_losses["loss"].iloc[0] >= result.mean_loss
    json.dumps(result.to_dict())  # plain JSON, NaN included as null


def test_inspect_command_finds_the_planted_mislabelled_rows(tmp_path, monkeypatch):
    frame = _signal_and_noise(n=500, seed=1)
    # Every 6th of the rows far on the "yes" side: their neighbours keep the rule the model learns.
    planted = frame.index[frame["signal"] + 1.5 * (frame["colour"] == "red") > 1.5][::6]
    frame.loc[planted, "label"] = "no"  # confidently "yes" by the rule that labels every other row
    frame.to_csv(tmp_path / "rows.csv", index=False)
    trained = cli_in_process("train", "--data", "rows.csv", "--target", "label", "--out", "run", "--epochs", "30",
                             "--lr", "0.01", "--hidden", "16", "--quiet", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = cli_in_process("inspect", "run", "--top", "5", "--repeats", "2", "-o", "inspect.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "inspect.json").read_text())
    monkeypatch.chdir(tmp_path)  # config.json names rows.csv relative to where train ran
    test_rows = set(RunView.from_folder("run").splits["test"].tolist())
    in_test = [int(i) for i in planted if i in test_rows]
    assert in_test, "the seeded split put no planted row in the test split: plant more"
    top = [r["index"] for r in report["top_losses"]]
    assert set(in_test) <= set(top[:len(in_test)])
    assert {r["column"] for r in report["importance"]} == {"signal", "noise", "colour"}
    assert report["row"] == top[0] and report["explained"] in ("yes", "no")
    for heading in ("highest-loss test rows", "most confused", "permutation importance", f"row {top[0]}:"):
        assert heading in result.stdout
    page = (tmp_path / "run" / "report.html").read_text()  # train's report carries the same tables
    assert "What the model relies on" in page and "Highest-loss test rows" in page and ">noise<" in page
    bad = cli_in_process("inspect", "run", "--row", "100000", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not among the test rows" in bad.stderr
    for flag in ("--top", "--repeats"):
        zero = cli_in_process("inspect", "run", flag, "0", cwd=tmp_path)
        assert zero.returncode == 2 and "must be at least 1" in zero.stderr


def test_inspect_says_in_one_line_when_the_rows_cannot_be_rebuilt_and_takes_a_file(tmp_path):
    frame, target = make_table("binary", n=120)
    tc.train(data=frame, target=target, epochs=30, lr=0.01, hidden=[16], progress="quiet", out=tmp_path / "run")
    result = cli_in_process("inspect", str(tmp_path / "run"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "cannot inspect" in result.stderr and "in-memory DataFrame" in result.stderr
    planted = frame.index[(frame["a"] > 1.5) & (frame["colour"] == "red")][0]
    frame.loc[planted, target] = "no"  # "yes" by the rule every other row follows
    frame.to_csv(tmp_path / "other.csv", index=False)
    given = cli_in_process("inspect", str(tmp_path / "run"), "--data", str(tmp_path / "other.csv"), "--top", "3",
                           "--repeats", "1", "-o", str(tmp_path / "i.json"))
    assert given.returncode == 0, given.stderr
    assert "highest-loss other.csv rows" in given.stdout
    report = json.loads((tmp_path / "i.json").read_text())
    assert report["top_losses"][0]["index"] == planted and report["top_losses"][0]["truth"] == "no"
    assert len(report["top_losses"]) == 3 and {r["column"] for r in report["importance"]} == {"a", "b", "colour"}
    mixed = cli_in_process("inspect", str(tmp_path / "run"), "--data", "other.csv", "--split", "valid")
    assert mixed.returncode == 2 and "--split chooses among the run's own rows" in mixed.stderr
    # -o naming the --data file (or a file of the run) would destroy it: refused, the file untouched
    before = (tmp_path / "other.csv").read_bytes()
    for output in (tmp_path / "other.csv", tmp_path / "run" / "notes.json"):
        clash = cli_in_process("inspect", str(tmp_path / "run"), "--data", str(tmp_path / "other.csv"),
                               "--repeats", "1", "-o", str(output))
        assert clash.returncode == 2 and clash.stderr.count("\n") == 1, clash.stderr
    assert (tmp_path / "other.csv").read_bytes() == before and not (tmp_path / "run" / "notes.json").exists()


def test_without_captum_everything_but_the_one_row_part_works(trained, monkeypatch):
    import sys

    run, frame = trained
    X, y = _split(run, frame)
    monkeypatch.setitem(sys.modules, "captum", None)  # import captum -> ImportError
    with pytest.raises(tc.ConfigError, match=r"torchclassify\[interpret\]"):
        interpret.explain_row(run.classifier, X.iloc[[0]], X)
    result = interpret.interpret(run.classifier, X, y, n_repeats=1)
    assert result.contributions is None and len(result.importance) == 3
    assert any("pip install 'torchclassify[interpret]'" in note for note in result.notes)


def test_a_model_left_in_train_mode_is_explained_as_it_predicts():
    frame, target = make_table("multiclass", n=200)
    clf = tc.train(data=frame, target=target, epochs=3, hidden=[32], dropout=0.5, seed=0, progress="quiet").classifier
    X = frame.drop(columns=target)
    clf.model.train()  # dropout on: a forward pass outside eval mode would be random
    rows = X.iloc[:20]
    predicted = clf.predict(rows)
    assert [interpret.explained_output(clf, rows.iloc[[i]]) for i in range(20)] == [str(p) for p in predicted]
    first = interpret.explain_row(clf, rows.iloc[[0]], X, n_samples=5)
    again = interpret.explain_row(clf, rows.iloc[[0]], X, n_samples=5)
    pd.testing.assert_frame_equal(first, again)
    assert clf.model.training  # left as it was


def test_targets_as_plain_arrays_are_read_as_the_report_and_evaluate_read_them():
    """interpret, the plots and evaluate encode targets one way (TrainedClassifier.encode_targets): a multilabel
    target as an (n, L) 0/1 array, columns in the classes' order, works in all three (interpret named its
    columns 0..L-1 and refused it as 'missing')."""
    frame, target = make_table("multilabel", n=200)
    run = tc.train(data=frame, target=target, epochs=2, hidden=[4], seed=0, progress="quiet")
    labels = list(run.classifier.classes)
    rows = frame.iloc[run.splits["test"]]
    X, Y = rows.drop(columns=labels), rows[labels]
    from_array = interpret.row_losses(run.classifier, X, Y.to_numpy())[2]
    np.testing.assert_array_equal(from_array, interpret.row_losses(run.classifier, X, Y)[2])
    assert run.classifier.evaluate(X, Y.to_numpy()) == run.classifier.evaluate(X, Y)
    with pytest.raises(tc.DataError, match=r"shape \(\d+, 2\) do not fit this model: give one 0/1 column per label"):
        run.classifier.encode_targets(Y.to_numpy()[:, :2])
    frame, target = make_table("multiclass", n=200)  # labels as an (n, 1) column, as scikit-learn users pass them
    run = tc.train(data=frame, target=target, epochs=2, hidden=[4], seed=0, progress="quiet")
    X, y = frame.drop(columns=target), frame[target]
    assert run.classifier.evaluate(X, y.to_numpy().reshape(-1, 1)) == run.classifier.evaluate(X, y)
    np.testing.assert_array_equal(interpret.row_losses(run.classifier, X, y.to_numpy().reshape(-1, 1))[2],
                                  interpret.row_losses(run.classifier, X, y)[2])


def test_importance_shuffles_preprocessed_blocks_as_it_would_shuffle_raw_columns(monkeypatch):
    # The rows are preprocessed once and each raw column's block of features shuffled (a 2,000-column report
    # spent minutes preprocessing every shuffle); the figures must be those of shuffling the raw column.
    from torchclassify import interpret

    rng = np.random.default_rng(1)
    n = 160
    words = np.array(["cheap", "offer", "meeting", "lunch", "report", "win", "team", "free", "today", "now"])
    frame = pd.DataFrame({
        "amount": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "signup": (pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")).strftime("%Y-%m-%d"),
        "colour": rng.choice(["red", "blue", None], n),
        "note": [" ".join(rng.choice(words, 6)) for _ in range(n)],
    })
    frame["y"] = np.where(frame["amount"].fillna(0) + frame["note"].str.contains("free") > 0.4, "yes", "no")
    run = tc.train(data=frame, target="y", epochs=5, valid_size=0.0, test_size=0.0, seed=0, text=["note"])
    pre = run.classifier.preprocessor
    assert pre.numeric and pre.dates and pre.categorical and pre.text  # every kind of block
    X, y = frame.drop(columns="y"), frame["y"]
    fast = interpret.permutation_importance(run.classifier, X, y, n_repeats=3, seed=4)
    monkeypatch.setattr(interpret, "_features_of_columns", lambda *args: None)
    raw = interpret.permutation_importance(run.classifier, X, y, n_repeats=3, seed=4)
    pd.testing.assert_frame_equal(fast, raw, rtol=0, atol=1e-6)
    assert fast["importance"].abs().max() > 0.01
