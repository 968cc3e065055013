"""Built-in datasets, files, target specs, splits and labels."""

import numpy as np
import pandas as pd
import pytest

from torchclassify.data.labels import LabelEncoding
from torchclassify.data.sources import BUILTINS, list_datasets, load_data, resolve_target
from torchclassify.data.split import split_indices
from torchclassify.errors import DataError


def test_every_builtin_loads_with_its_task():
    table = list_datasets()
    assert set(table["name"]) == set(BUILTINS)
    for row in table.itertuples():
        data = load_data(row.name)
        assert len(data.X) == row.rows and data.X.shape[1] == row.features
        n_classes = data.y.iloc[:, 0].nunique()
        expected = "multilabel" if data.y.shape[1] > 1 else ("binary" if n_classes == 2 else "multiclass")
        assert expected == row.task


def test_toy_size_noise_and_seed():
    a = load_data("moons", n_samples=200, noise=0.3, seed=1)
    b = load_data("moons", n_samples=200, noise=0.3, seed=1)
    c = load_data("moons", n_samples=200, noise=0.3, seed=2)
    assert len(a.X) == 200 and a.X.equals(b.X) and not a.X.equals(c.X)
    with pytest.raises(DataError, match="toy generators only"):
        load_data("iris", n_samples=10)


def test_real_datasets_keep_class_names():
    assert set(load_data("iris").y["target"]) == {"setosa", "versicolor", "virginica"}


@pytest.mark.parametrize("spec,expected", [("mood_*", ["mood_a", "mood_b"]), ("mood_b,x", ["mood_b", "x"]),
                                           ("x", ["x"])])
def test_target_specs(spec, expected):
    assert resolve_target(["x", "mood_a", "mood_b"], spec) == expected


def test_unknown_things_are_named(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        load_data("nope")
    with pytest.raises(DataError, match="file not found"):
        load_data(tmp_path / "missing.csv", "y")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match="target column 'y' not found; the columns are: a, b"):
        load_data(tmp_path / "t.csv", "y")


def test_a_target_header_with_spaces_around_it_is_found_and_a_near_miss_suggested():
    """A hostile pass: the header cell 'y ' gave "target column 'y' not found; the columns are: x, y " (the
    space does not show)."""
    assert resolve_target(["x", "y "], "y") == ["y "]
    with pytest.raises(DataError, match=r"target column 'Y' not found \(did you mean 'y '\?\); the columns are: x, 'y '"):
        resolve_target(["x", "y "], "Y")
    with pytest.raises(DataError, match="target column 'y' not found; the columns are: ' y', 'y '"):
        resolve_target([" y", "y "], "y")  # two would do: neither is guessed


def test_csv_semicolons_and_parquet(tmp_path):
    (tmp_path / "s.csv").write_text("a;b;y\n1;2;u\n3;4;v\n")
    assert load_data(tmp_path / "s.csv", "y").X.columns.tolist() == ["a", "b"]
    pd.DataFrame({"a": [1, 2], "y": [0, 1]}).to_parquet(tmp_path / "p.parquet")
    assert load_data(tmp_path / "p.parquet", "y").y.columns.tolist() == ["y"]


def test_split_is_stratified_and_seeded():
    y = np.array([0] * 80 + [1] * 20)
    train, valid, test = split_indices(100, y, 0.2, 0.2, seed=0)
    assert (len(train), len(valid), len(test)) == (60, 20, 20)
    assert y[test].sum() == 4 and y[valid].sum() == 4
    assert len(set(train) | set(valid) | set(test)) == 100
    again = split_indices(100, y, 0.2, 0.2, seed=0)
    assert all((a == b).all() for a, b in zip((train, valid, test), again))


def test_labels_round_trip_original_types():
    enc = LabelEncoding.fit(pd.DataFrame({"y": [3, 1, 2, 1]}))
    assert enc.classes == [1, 2, 3]
    codes = enc.encode(pd.DataFrame({"y": [1.0, 3.0]}))  # 1.0 read from another file still means class 1
    assert codes.tolist() == [0, 2] and enc.decode(codes).tolist() == [1, 3]
    with pytest.raises(DataError, match="not seen in training"):
        enc.encode(pd.DataFrame({"y": [7]}))
    with pytest.raises(DataError, match="missing value"):
        LabelEncoding.fit(pd.DataFrame({"y": [1, None]}))
    with pytest.raises(DataError, match="only 0/1"):
        LabelEncoding.fit(pd.DataFrame({"a": [0, 2], "b": [1, 0]}))
