"""Numbers a CSV writes as text ("$1,200", "53%", "1,234", a stray "-") are read as numbers, said, stored,
and read the same way at prediction; a column that is mostly words stays categories. From a hostile pass:
one "-" among the amounts turned the column the label depended on into 32 categories, silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from torchclassify.data.columns import decide_columns
from torchclassify.data.number_text import parse_numbers
from torchclassify.data.preprocess import Preprocessor


def test_signs_groupings_and_times_of_day_read_as_numbers_and_codes_stay_codes():
    """A second hostile pass: accounting negatives and the minus sign read as missing, Indian grouping, rupees
    and no-break-space thousands as categories, a time of day as a date (today's: predictions changed with the
    day they ran), and ZIP codes as numbers."""
    raw = pd.Series(["($1,203.97)", "\u22121204.0", "1,60,025", "₹1,200", "160\u00a0026", "08:07", "23:59:30",
                     "25:61", "12:5"], dtype=object)
    np.testing.assert_array_equal(parse_numbers(raw).to_numpy(),
                                  [-1203.97, -1204.0, 160025, 1200, 160026, 487, 1439.5, np.nan, np.nan])
    times = pd.DataFrame({"at": ["08:07", "12:30", "23:00", "00:15"] * 10, "x": np.arange(40) % 7})
    decision = decide_columns(times)[0]
    assert decision.action == "number" and "times of day (hh:mm), read as minutes since midnight" in decision.reason
    zips = pd.DataFrame({"zip": ["02134", "10001", "94110", "60601"] * 10, "x": np.arange(40) % 7})
    assert decide_columns(zips) == [] and Preprocessor.fit(zips).categorical_columns == ["zip"]


def test_parse_numbers_reads_currency_percent_and_thousands_and_nothing_else():
    raw = pd.Series(["1,234", "$1,200", "-$5", "53%", "12 €", "12,345.5", " 7 ", "1e3", "-", "?", "unknown",
                     "1,5", "12,34", None, "TRUE"], dtype=object)
    expected = [1234, 1200, -5, 53, 12, 12345.5, 7, 1000] + [np.nan] * 7
    np.testing.assert_array_equal(parse_numbers(raw).to_numpy(), np.array(expected, dtype=float))
    assert parse_numbers(pd.Series([1, 2, 3])).dtype == np.float64  # numbers stay numbers


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    amount = rng.integers(0, 10_000, n)
    return pd.DataFrame({
        "amount": pd.Series(amount, dtype=object).where(np.arange(n) % 50 != 3, "-"),  # 2 % stray markers
        "price": [f"${v:,}" for v in rng.integers(0, 5000, n)],
        "share": [f"{v}%" for v in rng.integers(0, 100, n)],
        "grade": np.where(rng.random(n) < 0.7, rng.integers(1, 5, n).astype(str), "none"),  # 30 % words
        "code": [f"{i:05d}" for i in range(n)],  # an identifier written as text
        "amount_paid": rng.permutation(10 * n)[:n],  # distinct whole numbers ending in "id": a feature
        "customerId": rng.permutation(10 * n)[:n],
    }), amount


def test_text_numbers_are_decided_as_numbers_and_the_rest_left_alone():
    frame, _ = _frame()
    decisions = {d.name: d for d in decide_columns(frame)}
    assert {name: d.action for name, d in decisions.items()} == {
        "amount": "number", "price": "number", "share": "number", "code": "drop", "customerId": "drop"}
    assert "8 that are not numbers read as missing ('-')" in decisions["amount"].reason
    assert "written with a currency sign" in decisions["price"].reason and "--keep price" in decisions["price"].reason
    assert "identifier" in decisions["code"].reason  # "00000", "00001", ...: codes (leading zeros), all distinct
    assert "price" not in {d.name for d in decide_columns(frame, keep=["price"])}  # --keep: categories again
    assert "price" in Preprocessor.fit(frame, keep=["price"]).categorical_columns


def test_the_preprocessing_reads_them_as_numbers_says_so_and_keeps_it_in_the_file():
    frame, amount = _frame()
    pre = Preprocessor.fit(frame)
    assert [c.name for c in pre.numeric] == ["amount", "price", "share", "amount_paid"]
    assert pre.categorical_columns == ["grade"]
    assert [c.name for c in pre.numeric if c.indicator] == ["amount"]  # the "-" rows: missing, and said so
    assert any(s.startswith("column 'price' read as numbers:") for s in pre.decisions())
    again = Preprocessor.from_dict(pre.to_dict())
    assert again.decisions() == pre.decisions()
    new = frame.head(3).copy()
    new["price"] = ["$3,100", "3100", "3,100"]  # written either way, the same number
    features = again.transform(new)
    price = pre.feature_names_out.index("price")
    assert features[0, price] == features[1, price] == features[2, price]
    assert Preprocessor.from_dict({**pre.to_dict(), "text_numbers": []}).decisions() != pre.decisions()


def test_a_csv_with_a_stray_marker_in_its_deciding_column_still_learns_it(tmp_path):
    """The hostile pass's table: `amount` decides the label; one row holds "-" (accuracy 0.54 before)."""
    rng = np.random.default_rng(4)
    amount = rng.integers(0, 10_000, 600)
    frame = pd.DataFrame({"amount": amount, "noise": rng.normal(size=600), "y": (amount > 5000).astype(int)})
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[[3, 40, 77], "amount"] = ["-", "?", "unknown"]
    frame.to_csv(tmp_path / "one_x.csv", index=False)
    run = tc.train(data=str(tmp_path / "one_x.csv"), target="y", epochs=60, progress="quiet")
    assert "amount" in [c.name for c in run.classifier.preprocessor.numeric]
    assert run.metrics["test"]["accuracy"] >= 0.9


@pytest.mark.parametrize("values", [["a", "b", "1"], ["1", "2", "x", "y"]])
def test_a_column_of_mostly_words_stays_categories(values):
    frame = pd.DataFrame({"c": values * 20, "n": np.arange(len(values) * 20) % 7})
    assert decide_columns(frame) == []
    assert Preprocessor.fit(frame).categorical_columns == ["c"]


def test_the_estimator_reads_datetimes_durations_and_decimals_as_their_types_say():
    """auto=False (the estimator: columns as given) still reads a column as its type says. Before: a datetime
    column one-hot encoded over 32 days, a duration read as words, Decimals as categories."""
    import decimal

    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
                      "took": pd.to_timedelta(rng.integers(0, 3600, n), "s"),
                      "money": [decimal.Decimal(str(round(v, 2))) for v in rng.normal(100, 20, n)]})
    y = (X["took"].dt.total_seconds() > 1800).astype(int)
    model = tc.TorchClassifier(epochs=40).fit(X, y)
    pre = model.classifier_.preprocessor
    assert [c.name for c in pre.numeric] == ["took", "money"] and [d.name for d in pre.dates] == ["when"]
    assert pre.categorical_columns == [] and pre.text == []
    took = pre.feature_names_out.index("took")
    features = pre.transform(X)[:, took]
    seconds = X["took"].dt.total_seconds().to_numpy()
    assert np.corrcoef(features, seconds)[0, 1] > 0.999  # the seconds, scaled
    assert model.score(X, y) > 0.9
