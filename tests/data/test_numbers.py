"""data/numbers.py: the log scale of skewed columns (log_skewed), what it chooses and computes, and that a
model file's log_scale is checked like any other field."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from torchclassify.data.numbers import SKEW_LIMIT, log_values, skewed_log_scale
from torchclassify.data.preprocess import Preprocessor
from torchclassify.errors import DataError, ModelFileError


def _counts(n=400, seed=0) -> np.ndarray:
    """(n,) non-negative counts with a long right tail: most rows 0-30, a few in the thousands."""
    rng = np.random.default_rng(seed)
    return np.floor(rng.lognormal(2.0, 1.6, n))


def test_log_values_at_known_points():
    s = 4.0
    got = log_values(np.array([0.0, 4.0, -4.0, 12.0, np.nan]), s)
    np.testing.assert_allclose(got[:4], [0.0, np.log(2.0), -np.log(2.0), np.log(4.0)], rtol=0, atol=1e-15)
    assert np.isnan(got[4])
    # monotone, through negatives (a value below the training range at prediction keeps its order)
    grid = np.linspace(-100, 1e6, 10_001)
    assert (np.diff(log_values(grid, s)) > 0).all()


def test_only_non_negative_columns_skewed_past_the_limit_are_logged():
    counts = _counts()
    from scipy.stats import skew

    assert skew(counts) > SKEW_LIMIT
    assert skewed_log_scale(counts) == np.median(counts[counts > 0])
    assert skewed_log_scale(np.random.default_rng(1).normal(10, 1, 400)) is None  # symmetric
    assert skewed_log_scale(np.append(counts, -1.0)) is None  # a negative value: not a count or an amount
    assert skewed_log_scale(counts[:10]) is None  # too few values to speak of a tail
    assert skewed_log_scale(np.full(100, 3.0)) is None  # constant
    assert skewed_log_scale(np.repeat([0.0, 1.0], [95, 5])) is None  # a rare flag: skewed, but two values
    assert skewed_log_scale(np.append(counts * 1e-300, 1e10)) is None  # x / s would overflow
    with_missing = np.append(counts, [np.nan, np.nan])
    assert skewed_log_scale(with_missing) == skewed_log_scale(counts)  # missing values are not part of the tail


def test_the_log_scale_does_not_depend_on_the_unit():
    counts = _counts()
    small = Preprocessor.fit(pd.DataFrame({"x": counts}), log_skewed=True)
    large = Preprocessor.fit(pd.DataFrame({"x": counts * 1000.0}), log_skewed=True)
    np.testing.assert_allclose(small.transform(pd.DataFrame({"x": counts})),
                               large.transform(pd.DataFrame({"x": counts * 1000.0})), rtol=1e-6, atol=1e-6)


def test_a_few_huge_rows_no_longer_squeeze_the_bulk_of_a_column():
    """Standardised, the rows in the thousands set the scale and the ordinary rows (0-30) collapse into a
    sliver of it; on the log scale they spread over about one standard deviation or more."""
    counts = _counts()
    frame = pd.DataFrame({"x": counts})
    bulk = counts <= 30
    plain = Preprocessor.fit(frame, log_skewed=False).transform(frame)[bulk, 0]
    logged = Preprocessor.fit(frame, log_skewed=True).transform(frame)[bulk, 0]
    assert np.ptp(plain) < 0.5 < 1.5 < np.ptp(logged)
    # the order of the rows is kept
    order = np.argsort(counts[bulk], kind="stable")
    assert (np.diff(logged[order]) >= 0).all()


def test_missing_values_take_the_median_on_the_log_scale():
    counts = _counts()
    counts[:20] = np.nan
    pre = Preprocessor.fit(pd.DataFrame({"x": counts}), log_skewed=True)
    col = pre.numeric[0]
    assert col.log_scale is not None and col.indicator
    features = pre.transform(pd.DataFrame({"x": [np.nan, np.inf, 5.0]}))
    expected_missing = np.float32((col.median - col.mean) / col.std)
    assert features[0, 0] == features[1, 0] == expected_missing  # inf counts as missing, as everywhere
    assert list(features[:, 1]) == [1.0, 1.0, 0.0]
    assert features[2, 0] == np.float32((log_values(np.array(5.0), col.log_scale) - col.mean) / col.std)


@pytest.mark.parametrize("bad", [-1.0, 0.0, "2", True, float("inf"), 10**400, [1.0]])
def test_a_hostile_log_scale_in_a_model_file_is_refused(bad):
    state = Preprocessor.fit(pd.DataFrame({"x": _counts()}), log_skewed=True).to_dict()
    state["numeric"][0]["log_scale"] = bad
    with pytest.raises(DataError, match="'x': log_scale must be a positive number"):
        Preprocessor.from_dict(json.loads(json.dumps(state)))


def test_a_file_from_before_the_log_scale_reads_its_columns_as_they_are():
    state = Preprocessor.fit(pd.DataFrame({"x": _counts()}), log_skewed=False).to_dict()
    del state["numeric"][0]["log_scale"]
    assert Preprocessor.from_dict(state).numeric[0].log_scale is None


def _skewed_table(n=300, seed=0) -> pd.DataFrame:
    counts = _counts(n, seed)
    return pd.DataFrame({"jobs": counts, "other": np.random.default_rng(seed).normal(size=n),
                         "y": np.where(counts > 8, "long", "short")})


def test_training_logs_skewed_columns_by_default_and_the_flag_turns_it_off(tmp_path):
    table = _skewed_table()
    on = tc.train(data=table, target="y", epochs=2, progress="quiet", out=tmp_path / "on")
    off = tc.train(data=table, target="y", epochs=2, progress="quiet", log_skewed=False, out=tmp_path / "off")
    assert [c.name for c in on.classifier.preprocessor.numeric if c.log_scale] == ["jobs"]
    assert [d for d in on.summary["column_decisions"] if "log scale" in d] == [
        "1 column(s) read on a log scale, log(1 + x / s) with s the median positive value, as their values are >= 0 "
        "with a long right tail (--no-log-skewed: as they are): 'jobs'"]
    assert not any("log scale" in d for d in off.summary["column_decisions"])
    assert not any(c.log_scale for c in off.classifier.preprocessor.numeric)
    saved = json.loads((tmp_path / "on" / "model.json").read_text())
    assert [c["log_scale"] is not None for c in saved["preprocessing"]["numeric"]] == [True, False]
    again = tc.load(tmp_path / "on")
    rows = table.drop(columns="y").head(50)
    assert np.array_equal(again.predict_proba(rows).to_numpy(), on.classifier.predict_proba(rows).to_numpy())


def test_a_model_file_edited_to_a_bad_log_scale_does_not_load(tmp_path):
    tc.train(data=_skewed_table(), target="y", epochs=1, progress="quiet", out=tmp_path / "run")
    path = tmp_path / "run" / "model.json"
    raw = json.loads(path.read_text())
    raw["preprocessing"]["numeric"][0]["log_scale"] = -3
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelFileError, match="log_scale must be a positive number"):
        tc.load(tmp_path / "run")


def test_the_estimator_logs_skewed_columns_unless_asked_not_to():
    from sklearn.base import clone

    from torchclassify import TorchClassifier

    table = _skewed_table()
    X, y = table[["jobs", "other"]].to_numpy(), table["y"].to_numpy()
    on = TorchClassifier(epochs=2, log_skewed=np.True_).fit(X, y)  # (a NumPy bool, as a grid's array holds)
    off = clone(on).set_params(log_skewed=np.False_).fit(X, y)
    assert [c.log_scale is not None for c in on.classifier_.preprocessor.numeric] == [True, False]
    assert not any(c.log_scale for c in off.classifier_.preprocessor.numeric)
    assert off.get_params()["log_skewed"] is np.False_  # (kept as given, as scikit-learn asks)
    assert on.config_.data.log_skewed is True and off.config_.data.log_skewed is False  # (config.json: JSON bools)


def test_the_raw_median_has_the_features_of_the_median():
    """A column held at its typical value (the 2-D view) must get the training median's features, and the
    stored median of a logged column is on the log scale."""
    from torchclassify.data.numbers import raw_median

    counts = _counts()
    pre = Preprocessor.fit(pd.DataFrame({"x": counts}), log_skewed=True)
    col = pre.numeric[0]
    assert col.log_scale is not None
    assert raw_median(col) == pytest.approx(np.median(counts), rel=1e-12)
    held = pre.transform(pd.DataFrame({"x": [raw_median(col)]}))[0, 0]
    assert held == pytest.approx((col.median - col.mean) / col.std, abs=1e-6)
    plain = Preprocessor.fit(pd.DataFrame({"x": counts}), log_skewed=False).numeric[0]
    assert raw_median(plain) == plain.median
