"""Free-text columns: detected, read as TF-IDF fitted on the training rows, saved as JSON, robust to odd cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from torchclassify.data.columns import decide_columns
from torchclassify.data.preprocess import Preprocessor
from torchclassify.data.text import TextColumn, looks_like_text

EXAMPLES = Path(__file__).parents[2] / "examples"
QUICK = dict(epochs=30, hidden=[32], progress="quiet")
SPAMMY = "free winner prize claim urgent offer cash click".split()
HAMMY = "meeting lunch project tomorrow report family thanks call".split()
FILLER = "the a to you your for this is and on in of".split()


def _words_only(n=800, seed=0):
    """The label depends only on which words a message holds."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        spam = rng.random() < 0.5
        words = list(rng.choice(SPAMMY if spam else HAMMY, rng.integers(2, 4))) + list(rng.choice(FILLER, 6))
        rng.shuffle(words)
        rows.append((" ".join(words), "spam" if spam else "ham"))
    return pd.DataFrame(rows, columns=["message", "label"])


def test_a_label_in_the_words_is_learned_and_one_hot_of_the_strings_is_not():
    frame = _words_only()
    text = tc.train(data=frame, target="label", **QUICK)
    assert text.summary["column_decisions"] and "read as text" in text.summary["column_decisions"][0]
    assert text.metrics["test"]["accuracy"] >= 0.95
    one_hot = tc.train(data=frame, target="label", no_text=["message"], **QUICK)
    assert one_hot.metrics["test"]["accuracy"] <= 0.65  # every message its own string: near chance


def test_text_and_a_number_together_beat_either_alone():
    frame = pd.read_csv(EXAMPLES / "spam.csv")
    both = tc.train(data=frame, target="label", **QUICK).metrics["test"]["accuracy"]
    text = tc.train(data=frame, target="label", drop=["links"], **QUICK).metrics["test"]["accuracy"]
    number = tc.train(data=frame, target="label", drop=["message"], **QUICK).metrics["test"]["accuracy"]
    assert both > max(text, number) + 0.03, (both, text, number)


def test_the_vectoriser_is_json_and_odd_cells_are_fine(tmp_path):
    frame = _words_only(300)
    run = tc.train(data=frame, target="label", out=tmp_path / "run", **QUICK)
    stored = json.loads((tmp_path / "run" / "model.json").read_text())["preprocessing"]["text"][0]
    assert stored["name"] == "message" and len(stored["vocabulary"]) == len(stored["idf"]) > 10
    loaded = tc.load(tmp_path / "run")
    odd = pd.DataFrame({"message": ["zebra quantum xylophone", "", None, 12345, "free " * 200_000,
                                    "FREE PRIZE claim!!"]})
    np.testing.assert_array_equal(loaded.predict_proba(odd).to_numpy(), run.classifier.predict_proba(odd).to_numpy())
    proba = loaded.predict_proba(odd).to_numpy()
    assert np.isfinite(proba).all() and loaded.predict(odd)[5] == "spam"  # unseen words are simply not counted


def test_detection_and_its_overrides():
    frame = _words_only(100).assign(colour=lambda f: np.where(np.arange(len(f)) % 2, "red", "blue"))
    actions = {d.name: d.action for d in decide_columns(frame.drop(columns="label"))}
    assert actions == {"message": "text"}  # a two-valued column is a category, not text
    assert {d.name: d.action for d in decide_columns(frame, text=["colour"], no_text=["message"])} == \
        {"colour": "text"}
    with pytest.raises(tc.ConfigError, match="both in --text and --no-text"):
        decide_columns(frame, text=["message"], no_text=["message"])
    assert not looks_like_text(pd.Series(["CUST-0001", "CUST-0002"] * 30))
    assert decide_columns(frame.drop(columns="label"), auto=False)[0].action == "text"  # the estimator reads it too


def test_the_estimator_reads_a_text_column_of_a_dataframe():
    from torchclassify import TorchClassifier

    frame = _words_only(400)
    clf = TorchClassifier(epochs=30, hidden=[32]).fit(frame[["message"]], frame["label"])
    assert clf.score(frame[["message"]], frame["label"]) > 0.95
    assert clf.classifier_.preprocessor.text[0].name == "message"


def test_a_text_column_without_any_term_is_a_column_of_zeros():
    column = TextColumn.fit("notes", pd.Series(["", None, "", None]))
    assert column.vocabulary == [] and column.transform(pd.Series(["hello"])).shape == (1, 0)
    pre = Preprocessor.fit(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "notes": ["", None, "", None]}),
                           text=["notes"])
    assert pre.transform(pd.DataFrame({"x": [1.0], "notes": ["anything"]})).shape == (1, 1)
