"""Preprocessing is fitted on train only, handles missing and unseen values, and round-trips through JSON."""

import json

import numpy as np
import pandas as pd
import pytest

from torchclassify.data.preprocess import Preprocessor
from torchclassify.errors import DataError


def test_statistics_come_from_the_rows_it_was_fitted_on():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan], "c": ["a", "a", "b", None]})
    pre = Preprocessor.fit(train)
    num = pre.numeric[0]
    assert num.median == 2.0 and num.indicator
    filled = np.array([1.0, 2.0, 3.0, 2.0])
    assert num.mean == pytest.approx(filled.mean()) and num.std == pytest.approx(filled.std())
    # Most frequent first, ties by name: a (2), then __missing__ and b (1 each).
    assert pre.categorical[0].categories == ["a", "__missing__", "b"]
    assert pre.feature_names_out[:2] == ["x", "x_missing"]


def test_transform_unseen_category_missing_and_inf():
    pre = Preprocessor.fit(pd.DataFrame({"x": [0.0, 2.0], "c": ["a", "b"]}))
    out = pre.transform(pd.DataFrame({"x": [np.inf, 4.0], "c": ["zzz", "a"], "extra": [1, 2]}))
    assert out.dtype == np.float32 and out.shape == (2, pre.n_features_out)
    names = pre.feature_names_out
    assert out[0, names.index("x")] == 0.0  # inf -> median 1.0 -> standardised 0
    assert out[0, names.index("c=__other__")] == 1.0  # unseen category
    assert out[1, names.index("c=a")] == 1.0 and out[1, names.index("x")] == pytest.approx(3.0)


def test_json_round_trip_is_exact():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=50), "c": rng.choice(list("pqr"), 50), "b": rng.random(50) > .5})
    pre = Preprocessor.fit(frame)
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(pre.transform(frame), again.transform(frame))


def test_high_cardinality_is_capped():
    frame = pd.DataFrame({"user": [f"u{i % 1000}" for i in range(2000)]})  # 1000 values, each twice
    pre = Preprocessor.fit(frame, max_categories=32)
    assert pre.n_features_out == 33


def test_missing_columns_are_named():
    pre = Preprocessor.fit(pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 0.0]}))
    with pytest.raises(DataError, match="lacks 1 column.*'y'"):
        pre.transform(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DataError, match=r"lacks 1 column.*'y' \(the data has 'Y ' for 'y': rename them as in"):
        pre.transform(pd.DataFrame({"x": [1.0], "Y ": [0.0]}))  # a hostile pass: X1 given, x1 missing, no hint


@pytest.mark.parametrize("log_skewed", [False, True])
@pytest.mark.parametrize("scaling", ["standard", "robust_clip"])
def test_numeric_block_path_is_bit_identical_to_column_by_column(scaling, log_skewed, monkeypatch):
    """A frame of plain numbers is read as one block (numeric_block); the statistics and the output must be
    exactly those of reading it a column at a time (what frames with other dtypes in those columns take)."""
    from torchclassify.data import numbers, preprocess

    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({
        "a": rng.normal(5, 3, n), "b": rng.integers(-50, 50, n), "c": rng.lognormal(0, 2, n).astype(np.float32),
        "d": rng.normal(size=n), "e": np.full(n, 7.0), "u": rng.integers(0, 9, n).astype(np.uint8)})
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame.loc[rng.random(n) < 0.05, "d"] = np.inf
    frame.loc[rng.random(n) < 0.05, "d"] = -1e200  # beyond 1e150: missing, as +-inf is
    new = frame.sample(frac=1.0, random_state=0)
    new.loc[new.index[:5], "b"] = 10**6
    assert numbers.numeric_block(frame, list(frame.columns)) is not None
    fast = Preprocessor.fit(frame, numeric_scaling=scaling, log_skewed=log_skewed)
    got = fast.transform(new)
    with monkeypatch.context() as patch:
        patch.setattr(preprocess, "numeric_block", lambda X, names: None)  # column by column
        slow = Preprocessor.fit(frame, numeric_scaling=scaling, log_skewed=log_skewed)
        expected = slow.transform(new)
    assert [vars(c) for c in fast.numeric] == [vars(c) for c in slow.numeric]  # exact floats
    # (e, constant, is left out)
    assert [(c.name, c.indicator) for c in fast.numeric] == [
        ("a", True), ("b", False), ("c", False), ("d", True), ("u", False)]
    assert [c.name for c in fast.numeric if c.log_scale] == (["c"] if log_skewed else [])  # (lognormal: skewed)
    np.testing.assert_array_equal(got, expected)
    # a text value in a numeric column: that frame is read column by column (coerced to missing)
    odd = new.astype({"a": object})
    odd.loc[odd.index[0], "a"] = "n/a"
    assert numbers.numeric_block(odd, ["a", "b"]) is None
    expected[0, 0] = np.float32((fast.numeric[0].median - fast.numeric[0].mean) / fast.numeric[0].std)
    expected[0, 1] = 1.0
    if scaling == "robust_clip":
        expected[0, 0] = 0.0  # the median is the centre
    np.testing.assert_array_equal(fast.transform(odd), expected)
