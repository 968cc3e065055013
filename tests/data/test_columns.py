"""Column decisions on the training rows: identifiers, row numbers and constants left out, dates made numbers,
each automatic decision overridable, all of it said and stored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from torchclassify.data.columns import decide_columns, looks_like_dates
from torchclassify.data.preprocess import DATE_PARTS, Preprocessor


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in rng.permutation(n)],
        "row_num": np.arange(1, n + 1),
        "account_no": rng.permutation(10 * n)[:n],
        "signup_date": (pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), "D")).strftime("%Y-%m-%d"),
        "country": "NL",
        "plan": rng.choice(["basic", "pro"], n),
        "income": rng.normal(50_000, 9_000, n),  # every value differs, and it is a real feature
        "visits": rng.integers(0, 30, n),
        "comment": [f"customer said thing number {i % 7} about the service" for i in range(n)],
    })


def _actions(frame, **kw):
    return {d.name: d.action for d in decide_columns(frame, **kw)}


def test_each_automatic_rule_names_its_column_and_leaves_real_features_alone():
    decisions = {d.name: d for d in decide_columns(_table())}
    assert {name: d.action for name, d in decisions.items()} == {
        "customer_id": "drop", "row_num": "drop", "account_no": "drop", "signup_date": "date", "country": "drop"}
    assert "identifier" in decisions["customer_id"].reason and "row number" in decisions["row_num"].reason
    assert "constant" in decisions["country"].reason and "--keep country" in decisions["country"].reason


def test_a_unique_number_without_an_id_name_or_order_is_a_feature():
    frame = _table()
    assert "income" not in _actions(frame)  # floats, all distinct: a measurement
    frame["score"] = np.random.default_rng(1).permutation(1000)[:len(frame)]  # distinct whole numbers, no id name
    assert "score" not in _actions(frame)


def test_keep_exempts_and_drop_forces():
    frame = _table()
    actions = _actions(frame, keep=["row_num", "signup_date"], drop=["visits"])
    assert "row_num" not in actions and "signup_date" not in actions and actions["visits"] == "drop"
    with pytest.raises(tc.DataError, match="--drop names column.*'nope'"):
        decide_columns(frame, drop=["nope"])
    with pytest.raises(tc.ConfigError, match="both in --drop and --keep"):
        decide_columns(frame, drop=["plan"], keep=["plan"])
    assert _actions(frame, auto=False) == {}  # the estimator's choice: every column as given


def test_dates_become_five_numbers_that_survive_json_and_read_text_or_datetime():
    frame = _table()
    pre = Preprocessor.fit(frame)
    names = pre.feature_names_out
    assert [f"signup_date_{part}" for part in DATE_PARTS] == [n for n in names if n.startswith("signup_date")]
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(pre.transform(frame), again.transform(frame))
    as_datetimes = frame.assign(signup_date=pd.to_datetime(frame["signup_date"]))
    np.testing.assert_array_equal(pre.transform(frame), pre.transform(as_datetimes))
    Z = pre.transform(frame.head(3).assign(signup_date=["2019-01-01", "not a date", None]))
    days = names.index("signup_date_days_since_start")
    assert np.isfinite(Z).all()
    assert pre.invalid_values(frame.head(3).assign(signup_date=["2019-01-01", "not a date", None])) == \
        {"signup_date": 1}
    start = pd.Timestamp(pre.dates[0].start)
    part = pre.dates[0].parts[DATE_PARTS.index("days_since_start")]
    expected = ((pd.Timestamp("2019-01-01") - start).days - part.mean) / part.std
    assert Z[0, days] == pytest.approx(expected, rel=1e-5)


def test_what_is_not_a_date():
    assert looks_like_dates(pd.Series(["2021-03-04", "2021-05-06"] * 20))
    assert looks_like_dates(pd.Series(["03/04/2021", "12/31/2020"] * 20))
    assert not looks_like_dates(pd.Series(["1.5", "2.5", "3"] * 20))  # numbers stored as text
    assert not looks_like_dates(pd.Series(["red", "blue"] * 20))
    assert not looks_like_dates(pd.Series(["A-1", "B-2"] * 20))


def test_every_column_left_out_is_refused_with_the_fix():
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(50)], "same": 1})
    with pytest.raises(tc.DataError, match="every feature column was left out.*--keep"):
        decide_columns(frame)


def test_a_run_says_what_it_did_with_each_column(tmp_path):
    frame = _table(300)
    frame["label"] = np.where(frame["income"] > 50_000, "high", "low")
    run = tc.train(data=frame, target="label", epochs=2, out=tmp_path / "run", progress="quiet")
    summary = run.summary
    assert summary["dropped_columns"] == ["customer_id", "row_num", "account_no", "country"]
    assert summary["date_columns"] == ["signup_date"]
    assert any("customer_id" in sentence and "identifier" in sentence for sentence in summary["column_decisions"])
    stored = json.loads((tmp_path / "run" / "model.json").read_text())["preprocessing"]
    assert [d["name"] for d in stored["dropped"]] == summary["dropped_columns"]
    report = (tmp_path / "run" / "report.html").read_text()
    assert "Column decisions" in report and "row number" in report
    # predict needs none of the left-out columns
    rows = frame.drop(columns=["label", "customer_id", "row_num", "account_no", "country"]).head(5)
    assert len(tc.load(tmp_path / "run").predict(rows)) == 5
    kept = tc.train(data=frame, target="label", epochs=2, keep=["row_num"], drop=["visits"], progress="quiet")
    assert "row_num" in kept.summary["numeric_columns"] and "visits" in kept.summary["dropped_columns"]


def test_the_cli_prints_each_decision(tmp_path):
    from conftest import cli_in_process

    frame = _table(120)
    frame["label"] = np.where(frame["visits"] > 15, "a", "b")
    frame.to_csv(tmp_path / "t.csv", index=False)
    result = cli_in_process("train", "--data", "t.csv", "--target", "label", "--epochs", "1", "--out", "r",
                            "--drop", "comment", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("columns")]
    assert len(lines) == 6 and any("'comment' left out: named in --drop" in line for line in lines)


def test_a_key_shared_by_rows_and_dates_written_as_whole_numbers():
    """A hostile pass: a customer_id repeated over a table of purchases was read as a quantity, and 20210315
    as the number twenty million; a store_id of five stores and a room_num count stay numbers."""
    rng = np.random.default_rng(0)
    n = 400
    booked = (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")).strftime("%Y%m%d")
    frame = pd.DataFrame({"customer_id": rng.integers(1000, 1300, n), "userId": rng.integers(0, 10**6, n) // 7 * 7,
                          "store_id": rng.integers(1, 6, n), "room_num": rng.integers(1, 300, n),
                          "booked": booked.astype(int), "amount": rng.integers(18000101, 22001231, n)})
    decisions = {d.name: d for d in decide_columns(frame)}
    assert {name: d.action for name, d in decisions.items()} == {"customer_id": "drop", "userId": "drop",
                                                                   "booked": "date"}
    assert "a key shared by rows" in decisions["customer_id"].reason
    assert "YYYYMMDD" in decisions["booked"].reason  # (amount: in range, but most are not dates)
    # Review: a code of 60 categories over 1,000 rows is a feature; ids held as Python ints, or named as one
    # lowercase word, are still ids.
    codes = pd.DataFrame({"category_id": rng.integers(0, 60, 1000), "x": rng.normal(size=1000)})
    assert decide_columns(codes) == []
    ids = pd.DataFrame({"customer_id": pd.Series(rng.permutation(n) + 5000, dtype=object),
                        "customerid": rng.permutation(10 * n)[:n], "x": rng.normal(size=n)})
    assert {d.name: d.action for d in decide_columns(ids)} == {"customer_id": "drop", "customerid": "drop"}
    pre = Preprocessor.fit(frame)
    days = pre.transform(frame)[:, pre.feature_names_out.index("booked_days_since_start")]
    truth = (pd.to_datetime(booked, format="%Y%m%d") - pd.Timestamp("2020-01-01")).days.to_numpy()
    assert np.corrcoef(days, truth)[0, 1] > 0.9999
    # Review: with a blank among them the numbers are floats ("20210315.0"), and no date was read at all.
    frame["booked"] = frame["booked"].astype(float).where(np.arange(n) % 17 != 0)
    pre = Preprocessor.fit(frame)
    days = pre.transform(frame)[:, pre.feature_names_out.index("booked_days_since_start")]
    known = np.arange(n) % 17 != 0
    assert np.corrcoef(days[known], truth[known])[0, 1] > 0.9999
    assert pre.invalid_values(frame.astype({"booked": "Int64"})) == {}  # whole numbers at prediction too


def test_dates_whose_day_and_month_could_be_swapped_are_said_to_be_a_guess():
    """A hostile pass: dd/mm dates with every day <= 12 were read as mm/dd without a word, while dd/mm dates
    that could only be dd/mm printed pandas' own "dayfirst" advice twice."""
    import warnings

    days = pd.date_range("2021-01-01", periods=400, freq="D")
    ambiguous = pd.DataFrame({"when": days[days.day <= 12].strftime("%d/%m/%Y"), "x": 1.0})
    ambiguous["x"] = np.arange(len(ambiguous))
    with pytest.warns(UserWarning, match=r"read as %m/%d/%Y; as %d/%m/%Y they would read too .* YYYY-MM-DD"):
        Preprocessor.fit(ambiguous)
    clear = pd.DataFrame({"when": days.strftime("%d/%m/%Y"), "x": np.arange(400)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither ours nor pandas'
        pre = Preprocessor.fit(clear)
    assert pre.dates[0].format == "%d/%m/%Y"


def test_dates_with_utc_offsets_keep_the_writers_day_and_hour():
    # Review: converted to UTC first, local midnight on 1 January 2020 at +01:00 was a Tuesday of 2019.
    from torchclassify.data.columns import parse_dates

    text = pd.Series(["2020-01-01 00:00:00+01:00", "2020-06-01 00:30:00+02:00", "2021-03-01T23:15:00Z", None])
    parsed, fmt = parse_dates(text)
    assert list(parsed.dropna().astype(str)) == ["2020-01-01 00:00:00", "2020-06-01 00:30:00", "2021-03-01 23:15:00"]
    aware = pd.Series(pd.to_datetime(["2020-01-01 00:00", "2020-07-01 23:30"]).tz_localize("Europe/Paris"))
    assert list(parse_dates(aware)[0].astype(str)) == ["2020-01-01 00:00:00", "2020-07-01 23:30:00"]
    assert parse_dates(pd.Series(["15-01-2020", "16-01-2020"]))[0].dt.day.tolist() == [15, 16]  # (no offset)
    # A model fitted before (no "local" in its model.json) reads them in UTC still: its predictions stay.
    assert list(parse_dates(text, fmt, local=False)[0].dropna().astype(str))[0] == "2019-12-31 23:00:00"
    frame = pd.DataFrame({"when": list(text[:3]) * 10, "x": np.arange(30.0)})
    pre = Preprocessor.fit(frame)
    assert pre.dates[0].local and pre.to_dict()["dates"][0]["local"] is True
    old = pre.to_dict()
    del old["dates"][0]["local"]
    before = Preprocessor.from_dict(old)
    assert not before.dates[0].local
    year = pre.feature_names_out.index("when_year")
    assert before.transform(frame)[0, year] != pre.transform(frame)[0, year]  # 2019 in UTC, 2020 where written


def test_a_column_mixing_iso_and_day_first_dates_reads_every_value_day_first():
    # Review: "mixed" read "05/03/2020" as 3 May beside "13/01/2020" as 13 January, in one column, silently.
    import warnings

    from torchclassify.data.columns import parse_dates

    text = pd.Series(["2020-01-15", "05/03/2020", "2020-02-01", "13/01/2020", "2020-02-02"] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed, fmt = parse_dates(text)
    assert fmt == "mixed-dayfirst"
    assert list(parsed[:5].astype(str)) == ["2020-01-15", "2020-03-05", "2020-02-01", "2020-01-13", "2020-02-02"]
    assert parse_dates(text[:4], fmt)[0].equals(parsed[:4])  # (what predict reads with the kept format)
    both = pd.Series(["2020-01-15", "13/01/2020", "01/20/2020"] * 10)
    with pytest.warns(UserWarning, match="mix day-first and month-first orders"):
        assert parse_dates(both)[1] == "mixed"
    with warnings.catch_warnings():  # review: "2020-01-15" read as day 20, month 01 made any column day first
        warnings.simplefilter("error")
        assert parse_dates(pd.Series(["2020-01-15", "05/03/2020", "2020-02-01", "06/04/2020"] * 10))[1] == "mixed"
        assert parse_dates(pd.Series(["2020-01-15"] * 20 + ["01/13/2020"]))[1] == "ISO8601"  # (no mixed look)


def test_a_run_says_how_many_infinite_or_huge_numbers_it_read_as_missing():
    # Review: a column of +-inf or values past 1e150 became all missing in training without a word.
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    frame = pd.DataFrame({"x": x, "huge": x * 1e300, "some_inf": np.where(np.arange(50) < 4, np.inf, x)})
    said = Preprocessor.fit(frame).decisions()
    assert "column 'huge': 50 value(s) infinite or past 1e150 in size, read as missing" in said
    assert "column 'some_inf': 4 value(s) infinite or past 1e150 in size, read as missing" in said
    assert not any("'x'" in line for line in said)
