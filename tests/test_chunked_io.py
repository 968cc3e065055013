"""Reading tables: the delimiter sniffed for the fast parser, and `predict` / `evaluate` a chunk at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import torchclassify
from torchclassify.cli import main
from torchclassify.commands.evaluate import evaluate_file
from torchclassify.data.tables import iter_table, read_table
from torchclassify.errors import DataError


@pytest.fixture(scope="module")
def coded_run(tmp_path_factory):
    """A run whose categorical column `code` holds digit strings ("7", "12") next to text ("x")."""
    folder = tmp_path_factory.mktemp("coded")
    rng = np.random.default_rng(3)
    n = 400
    code = rng.choice(["7", "12", "x"], size=n)
    a = rng.normal(size=n)
    # The label is mostly the code: a code read as the wrong category would change the predictions.
    label = np.where((code == "7") | ((code == "x") & (a > 1.5)), "yes", "no")
    pd.DataFrame({"a": a, "code": code, "label": label}).to_csv(folder / "train.csv", index=False)
    torchclassify.train(source=str(folder / "train.csv"), target="label", out=folder / "run", progress="quiet",
                        epochs=30, seed=0)
    return folder


def _rows(folder, n: int = 40):
    rows = pd.DataFrame({"a": np.linspace(-2, 2, n), "code": (["7", "12", "x", ""] * n)[:n]})
    # The first chunks (of 8 rows below) hold only digits and blanks: read alone, pandas makes them floats.
    rows.loc[:15, "code"] = (["7", "12", "", "7"] * 4)
    rows.to_csv(folder / "rows.csv", index=False)
    return rows


def test_predict_in_chunks_equals_predicting_every_row_at_once(coded_run, capsys):
    rows = _rows(coded_run)
    assert main(["predict", str(coded_run / "run"), str(coded_run / "rows.csv"), "--proba", "--chunk-rows", "8",
                 "-o", str(coded_run / "chunked.csv")]) == 0
    chunked = pd.read_csv(coded_run / "chunked.csv", keep_default_na=False)
    classifier = torchclassify.load(coded_run / "run")
    # The library on the rows as text: blanks are missing values, "7" is the category "7".
    expected = classifier.predict_proba(rows.replace("", np.nan))
    assert list(chunked.columns) == ["label", "proba_no", "proba_yes"]  # one header, then every chunk's rows
    assert len(chunked) == len(rows)
    assert list(chunked["label"]) == list(classifier.predict(rows.replace("", np.nan)))
    np.testing.assert_allclose(chunked[["proba_no", "proba_yes"]].to_numpy(), expected.to_numpy(), atol=1e-6)
    # "7" must count as the trained category, not as the unseen float 7.0 that a digits-only chunk parses to.
    seven = chunked.loc[rows["code"] == "7", "label"]
    assert (seven == "yes").all()


def test_predict_default_chunks_write_the_same_bytes_as_stdout(coded_run, capsys):
    _rows(coded_run)
    run, rows = str(coded_run / "run"), str(coded_run / "rows.csv")
    assert main(["predict", run, rows, "-o", str(coded_run / "out.csv")]) == 0
    capsys.readouterr()
    assert main(["predict", run, rows]) == 0
    assert capsys.readouterr().out.replace("\r\n", "\n") == (coded_run / "out.csv").read_text()


def test_a_file_that_breaks_partway_leaves_no_output(coded_run, capsys):
    lines = ["a,code"] + [f"{i / 10},7" for i in range(30)] + ['1.0,"never closed'] + ["0.5,x"] * 5
    (coded_run / "broken.csv").write_text("\n".join(lines) + "\n")
    output = coded_run / "never.csv"
    code = main(["predict", str(coded_run / "run"), str(coded_run / "broken.csv"), "--chunk-rows", "10",
                 "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: cannot read") and err.count("\n") == 1
    assert not output.exists() and not list(coded_run.glob(".never.csv*"))
    # The error does come partway: to standard output the first 30 rows were already predicted.
    assert main(["predict", str(coded_run / "run"), str(coded_run / "broken.csv"), "--chunk-rows", "10"]) == 2
    assert len(capsys.readouterr().out.splitlines()) == 1 + 30


def test_chunk_rows_must_be_positive(coded_run, capsys):
    _rows(coded_run)
    assert main(["predict", str(coded_run / "run"), str(coded_run / "rows.csv"), "--chunk-rows", "0"]) == 2
    assert "--chunk-rows" in capsys.readouterr().err


def test_evaluate_in_chunks_matches_evaluating_the_whole_table(coded_run):
    classifier = torchclassify.load(coded_run / "run")
    table = read_table(coded_run / "train.csv")
    whole = classifier.evaluate(table[["a", "code"]].astype({"code": str}), table["label"])
    chunked = evaluate_file(classifier, coded_run / "train.csv", "label", chunk_rows=37)
    assert chunked["n_samples"] == whole["n_samples"] == 400
    for key in ("accuracy", "f1", "precision", "recall"):
        assert chunked[key] == whole[key]
    assert chunked["roc_auc"] == pytest.approx(whole["roc_auc"], abs=1e-6)


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path, separator):
    frame = pd.DataFrame({"x": [1.5, 2.5, 3.5], "city": ["Oslo", "Rome", "Lima"], "y": ["a", "b", "a"]})
    path = tmp_path / "table.csv"
    frame.to_csv(path, sep=separator, index=False)
    pd.testing.assert_frame_equal(read_table(path).astype({"city": object, "y": object}),
                                  frame.astype({"city": object, "y": object}))
    chunks = list(iter_table(path, chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 1]
    assert list(chunks[0].columns) == ["x", "city", "y"]


def test_a_quoted_field_with_the_delimiter_inside_stays_one_field(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('name,score\n"Smith, Jane",1\n"Doe, John",2\n')
    frame = read_table(path)
    assert list(frame.columns) == ["name", "score"]
    assert list(frame["name"]) == ["Smith, Jane", "Doe, John"]


@pytest.mark.parametrize("separator", [",", ";"])
def test_rows_that_end_with_a_delimiter_keep_their_columns_in_place(tmp_path, separator):
    # Review: pandas took the first column as the index when every row ended with the delimiter, so each
    # column moved one place left and the target's name read its neighbour's values.
    path = tmp_path / "trailing.csv"
    path.write_text(separator.join(["x", "y", "region"]) + "\n"
                    + "".join(separator.join([f"{v}.5", label, city, ""]) + "\n"
                              for v, label, city in [(1, "yes", "north"), (2, "no", "south"), (3, "yes", "east")]))
    expected = pd.DataFrame({"x": [1.5, 2.5, 3.5], "y": ["yes", "no", "yes"], "region": ["north", "south", "east"]})
    pd.testing.assert_frame_equal(read_table(path), expected)
    pd.testing.assert_frame_equal(pd.concat(iter_table(path, chunk_rows=2), ignore_index=True), expected)


def test_rows_with_a_value_the_header_does_not_name_are_refused(tmp_path):
    path = tmp_path / "unnamed.csv"
    path.write_text("x,y\n1,yes,north\n2,no,south\n")
    with pytest.raises(DataError, match="the data rows have 3 fields but the header names 2: give every column"):
        read_table(path)
    path.write_text("x,y\n1,yes\n2,no,south\n")  # one row only: pandas' own field-count error, not an index
    with pytest.raises(DataError, match="line 3"):
        read_table(path)
    # Review: past the first 64 KiB, which csv_options reads, a value after a trailing delimiter was dropped.
    from torchclassify.data.convert import csv_to_parquet

    path.write_text("a,b\n" + "i,i,\n" * 20_000 + "1,2,EXTRA\n")  # (100 KB)
    for read in (read_table, lambda p: list(iter_table(p, chunk_rows=1000)),
                 lambda p: csv_to_parquet(p, tmp_path / "unnamed.parquet")):
        with pytest.raises(DataError, match="has a value past the last column the header names"):
            read(path)
    assert not (tmp_path / "unnamed.parquet").exists()


def test_codes_with_leading_zeros_are_read_as_text(tmp_path):
    # Review: pandas read "02134" as the number 2134 before the codes rule of number_text.py could see it, so
    # ZIP codes became a scaled number column and labels "01" / "002" came back from predict as 1 and 2.
    from torchclassify.data.convert import csv_to_parquet

    path = tmp_path / "zips.csv"
    path.write_text("zip,x,grade\n02134,1.5,01\n10001,2.5,002\n00501,3.5,01\n90210,4.5,002\n")
    frame = read_table(path)
    assert list(frame["zip"]) == ["02134", "10001", "00501", "90210"] and list(frame["grade"]) == ["01", "002"] * 2
    assert frame["x"].dtype == np.float64
    chunked = pd.concat(iter_table(path, chunk_rows=3, text_columns=["x"]), ignore_index=True)
    assert list(chunked["zip"]) == list(frame["zip"]) and list(chunked["x"]) == ["1.5", "2.5", "3.5", "4.5"]
    csv_to_parquet(path, tmp_path / "zips.parquet")
    assert list(pd.read_parquet(tmp_path / "zips.parquet")["zip"]) == list(frame["zip"])


def test_predict_on_a_header_only_file_writes_a_header_only_table(coded_run, tmp_path, capsys):
    # Review: a day with no new rows made `predict` exit 2 ("needs at least one data row"), breaking batch jobs
    # that the library (predict on 0 rows) serves fine.
    (tmp_path / "none.csv").write_text("a,code\n")
    pd.DataFrame({"a": pd.Series([], dtype=float), "code": pd.Series([], dtype=str)}).to_parquet(tmp_path / "none.parquet")
    for name in ("none.csv", "none.parquet"):
        out = tmp_path / f"{name}.out.csv"
        assert main(["predict", str(coded_run / "run"), str(tmp_path / name), "--proba", "--keep", "a", "-o", str(out)]) == 0
        assert out.read_text().splitlines() == ["a,label,proba_no,proba_yes"]
        assert "wrote 0 predictions" in capsys.readouterr().err
    (tmp_path / "lacking.csv").write_text("a\n")  # the model's column check still applies
    assert main(["predict", str(coded_run / "run"), str(tmp_path / "lacking.csv")]) == 2
    assert "lacks 1 column(s) the model was trained on: 'code'" in capsys.readouterr().err
    (tmp_path / "labelled.csv").write_text("a,code,label\n")
    assert main(["evaluate", str(coded_run / "run"), "--data", str(tmp_path / "labelled.csv")]) == 2  # nothing to score
    assert "no data rows" in capsys.readouterr().err


def test_a_header_only_file_is_refused_when_read_in_chunks(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataError, match="no data rows"):
        list(iter_table(path))


def test_parquet_reads_in_chunks(tmp_path):
    frame = pd.DataFrame({"x": np.arange(10.0), "c": list("abcdeabcde")})
    frame.to_parquet(tmp_path / "t.parquet")
    chunks = list(iter_table(tmp_path / "t.parquet", chunk_rows=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame)


def test_the_delimiter_is_sniffed_when_the_first_64_kib_end_mid_row(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 400)), columns=[f"c{i}" for i in range(400)])
    path = tmp_path / "wide.csv"
    frame.to_csv(path, sep=";", index=False)
    assert path.stat().st_size > 65_536 * 2  # the sniffer sees a cut row
    assert read_table(path).shape == (60, 400)
