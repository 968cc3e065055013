"""CSV files as spreadsheet programs write them: not UTF-8, decimal commas with semicolons, a workbook saved
with the wrong name, a header naming a column twice. From a hostile pass, where each was a raw decoder
message, numbers read as categories, or a silently renamed column."""

from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest

from torchclassify.data.preprocess import Preprocessor
from torchclassify.data.tables import read_table
from torchclassify.errors import DataError


def test_a_windows_1252_file_is_read_with_a_warning_and_utf16_by_its_mark(tmp_path):
    frame = pd.DataFrame({"city": ["São Paulo", "Zürich", "Kraków"] * 5, "y": [0, 1, 1] * 5})
    frame.to_csv(tmp_path / "cp.csv", index=False, encoding="cp1252")
    with pytest.warns(UserWarning, match="cp.csv is not UTF-8: read as cp1252"):
        assert read_table(tmp_path / "cp.csv")["city"].tolist() == frame["city"].tolist()
    frame.to_csv(tmp_path / "u16.csv", index=False, encoding="utf-16")
    assert read_table(tmp_path / "u16.csv").equals(frame)
    frame.to_csv(tmp_path / "u8.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # UTF-8: no warning
        assert read_table(tmp_path / "u8.csv").equals(frame)


def test_a_workbook_is_not_read_as_text(tmp_path):
    with zipfile.ZipFile(tmp_path / "book.xlsx", "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match=r"book.xlsx is a zip archive, such as an Excel workbook, not a CSV: save it"):
        read_table(tmp_path / "book.xlsx")


def test_a_header_that_names_a_column_twice_is_refused(tmp_path):
    (tmp_path / "dup.csv").write_text("a,b,a,y\n1,2,3,yes\n4,5,6,no\n")
    with pytest.raises(DataError, match=r"dup.csv has duplicate column names \['a'\]"):
        read_table(tmp_path / "dup.csv")


def test_semicolon_files_take_the_comma_as_their_decimal_mark(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=60).round(3)
    amount = (rng.random(60) * 5000).round(2)
    lines = ["x;amount;y"] + [f"{str(a).replace('.', ',')};{'-' if i == 7 else format(b, ',.2f').replace(',', ' ').replace('.', ',').replace(' ', '.')};{i % 2}"
                              for i, (a, b) in enumerate(zip(x, amount))]
    (tmp_path / "eu.csv").write_text("\n".join(lines) + "\n")
    frame = read_table(tmp_path / "eu.csv")
    np.testing.assert_allclose(frame["x"].to_numpy(), x)  # "0,126" is 0.126
    pre = Preprocessor.fit(frame.drop(columns="y"))  # "1.234,56" beside a "-": text, read as numbers
    assert [c.name for c in pre.numeric] == ["x", "amount"]
    values = pre.transform(frame.drop(columns="y"))[:, pre.feature_names_out.index("amount")]
    known = np.arange(60) != 7
    assert np.corrcoef(values[known], amount[known])[0, 1] > 0.9999

    # A semicolon file whose numbers use the decimal point keeps it: "1.234" is not a thousand there.
    (tmp_path / "dots.csv").write_text("a;b;y\n1.234;x;0\n2.5;-;1\n" + "0.75;z;0\n" * 20)
    from torchclassify.data.tables import csv_options

    assert "decimal" not in csv_options(tmp_path / "dots.csv")
    dots = read_table(tmp_path / "dots.csv")
    assert dots["a"].dtype == np.float64 and dots["a"].tolist()[:3] == [1.234, 2.5, 0.75]
    assert [c.name for c in Preprocessor.fit(dots.drop(columns="y")).numeric] == ["a"]


def test_a_point_that_may_separate_thousands_in_a_semicolon_file_is_said():
    # Review: a German export of whole amounts read "3.386" as 3.386 beside "211" without a word; reading it as
    # 3386 instead broke semicolon files of three-decimal weights ("1.250") and IP addresses, so it is said.
    import tempfile
    import warnings
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "de.csv"
        path.write_text("betrag;y\n3.386;0\n211;1\n4.999;0\n")
        with pytest.warns(UserWarning, match=r"'3.386' in this semicolon file are read with a decimal point .* "
                                             "write them without it"):
            assert read_table(path)["betrag"].tolist() == [3.386, 211.0, 4.999]
        for quiet in ("kg;y\n1.250;a\n2.5;b\n", "ip;n;y\n192.168.100.200;3;a\n10.0.0.1;5;b\n"):
            path.write_text(quiet)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                frame = read_table(path)
        assert frame["ip"].tolist() == ["192.168.100.200", "10.0.0.1"]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_the_decimal_comma_is_decided_once_per_file_so_every_chunk_reads_alike(tmp_path, separator):
    """Review: decided per chunk, a chunk holding only "1.500" (a thousands point) read as 1.5, while the
    whole file read 1500; and a tab-separated "6,732" read as 6732 (a thousands comma)."""
    from torchclassify.data.convert import csv_to_parquet
    from torchclassify.data.tables import iter_table

    rows = ["amount", "2,5", "3,25", "1.500", "2.000", "6,732", "-0,5"]
    dates = ["when", "15.03.2021", "16.03.2021", "17.03.2021", "18.03.2021", "19.03.2021", "20.03.2021"]
    (tmp_path / "eu.csv").write_text("\n".join(f"{a}{separator}{d}" for a, d in zip(rows, dates)) + "\n")
    expected = [2.5, 3.25, 1500.0, 2000.0, 6.732, -0.5]
    assert read_table(tmp_path / "eu.csv")["amount"].tolist() == expected
    for chunk_rows in (1, 2, 4):
        chunks = list(iter_table(tmp_path / "eu.csv", chunk_rows))
        assert [v for c in chunks for v in c["amount"].astype(float)] == expected
        assert [v for c in chunks for v in c["when"]] == dates[1:]  # dates with points are not numbers
    csv_to_parquet(tmp_path / "eu.csv", tmp_path / "eu.parquet", chunk_rows=2)
    assert pd.read_parquet(tmp_path / "eu.parquet")["amount"].tolist() == expected


def test_a_file_that_leaves_utf8_after_its_first_64_kib(tmp_path):
    """Review: the encoding is guessed from the first 64 KiB; a Windows-1252 character past them stopped the
    read with pandas' decoder message. Read whole, the file is read again as cp1252; chunk by chunk (predict,
    --stream), where rows have gone out already, the one line says what to do."""
    from torchclassify.data.tables import iter_table

    rows = ["x,city,y"] + [f"{i},Oslo,{i % 2}" for i in range(20_000)] + ["1,São Paulo,1"] * 3
    (tmp_path / "late.csv").write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    with pytest.warns(UserWarning, match="late.csv is not UTF-8 past its first lines: read as cp1252"):
        assert read_table(tmp_path / "late.csv")["city"].iloc[-1] == "São Paulo"
    with pytest.raises(DataError, match=r"late.csv: it is not UTF-8 text past its first lines \(a byte e3\): save"):
        list(iter_table(tmp_path / "late.csv", 1000))


def test_a_thousands_comma_is_not_taken_for_a_decimal_one(tmp_path):
    """A second hostile pass: in a tab-separated file "23,659" (a thousands comma, three digits after it) was
    read as 23.659, and decimal commas first seen after line 50 were not seen at all."""
    from torchclassify.data.tables import csv_options

    (tmp_path / "en.tsv").write_text("amount\ty\n" + "999\t1\n500\t0\n" * 10 + "23,659\t1\n40,000\t0\n" * 10)
    assert "decimal" not in csv_options(tmp_path / "en.tsv")
    amounts = Preprocessor.fit(read_table(tmp_path / "en.tsv")[["amount"]]).numeric[0]
    assert amounts.median == (999 + 23_659) / 2
    (tmp_path / "late.csv").write_text("amount;y\n" + "12;1\n" * 60 + "12,5;0\n")
    assert read_table(tmp_path / "late.csv")["amount"].iloc[-1] == 12.5


def test_predict_reads_numbers_with_the_decimal_mark_the_training_file_had(tmp_path):
    """A second hostile pass: trained on "3.184,81", a file of whole amounts such as "1.370" (nothing that shows
    the decimal comma) was read as 1.37 at predict: every row in one class, silently."""
    import torchclassify as tc
    from conftest import cli_in_process

    rng = np.random.default_rng(0)
    amount = rng.uniform(0, 5000, 400).round(2)

    def german(value: float, decimals: int) -> str:
        return f"{value:,.{decimals}f}".replace(",", " ").replace(".", ",").replace(" ", ".")

    (tmp_path / "train.csv").write_text("amount;y\n" + "".join(f"{german(a, 2)};{int(a > 2500)}\n" for a in amount))
    run = tc.train(data=str(tmp_path / "train.csv"), target="y", epochs=40, out=tmp_path / "run", progress="quiet")
    assert run.classifier.preprocessor.decimal == "," and run.metrics["test"]["accuracy"] > 0.95
    new = rng.integers(1000, 5000, 40)
    (tmp_path / "new.csv").write_text("amount\n" + "".join(f"{german(v, 0)}\n" for v in new))  # "1.370": no comma
    result = cli_in_process("predict", str(tmp_path / "run"), str(tmp_path / "new.csv"), "--chunk-rows", "7")
    predicted = pd.read_csv(pd.io.common.StringIO(result.stdout)).iloc[:, 0].to_numpy()
    assert result.returncode == 0 and (predicted == (new > 2500)).mean() >= 0.95
    assert tc.load(tmp_path / "run").preprocessor.decimal == ","  # kept in model.json
