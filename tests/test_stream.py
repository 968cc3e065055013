"""Streaming training from a Parquet file (--stream): the same split, preprocessing and run folder as in memory,
reading one chunk of row groups at a time, in a seeded order that changes every epoch."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

import torchclassify as tc
from _faults import InterruptAt
from conftest import cli_in_process
from torchclassify.data import prepared as prepared_data
from torchclassify.data import streamed as streamed_data
from torchclassify.data.prepared import LARGE_TABLE_MEMBERS
from torchclassify.data.preprocess import Preprocessor
from torchclassify.data.split import split_targets
from torchclassify.data.stream import ParquetTable, plan_chunks
from torchclassify.models import PiecewiseLinear

N_ROWS, ROW_GROUP, CHUNK_ROWS = 6000, 500, 1000  # 12 row groups, 6 chunks of 2 groups


def make_frame(n: int = N_ROWS, seed: int = 0) -> pd.DataFrame:
    """String labels from two numbers and a category; 10% of `b` missing. `a` is unique per row."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    frame = pd.DataFrame({"a": a, "b": b, "colour": colour})
    frame.loc[rng.random(n) < 0.1, "b"] = np.nan
    score = a + np.where(colour == "red", 1.0, 0.0) + 0.5 * np.nan_to_num(frame["b"].to_numpy())
    frame["label"] = np.select([score > 0.8, score < -0.5], ["high", "low"], "mid")
    return frame


class ReadSpy:
    """Records every Parquet read: (row groups, columns) of read_row_groups, columns of whole-file reads."""

    def __init__(self, monkeypatch):
        self.group_reads, self.file_reads = [], []
        read_row_groups, read = pq.ParquetFile.read_row_groups, pq.ParquetFile.read

        def spy_row_groups(file, row_groups, columns=None, **kwargs):
            self.group_reads.append((list(row_groups), list(columns or [])))
            return read_row_groups(file, row_groups, columns=columns, **kwargs)

        def spy_read(file, columns=None, **kwargs):
            self.file_reads.append(list(columns or []))
            return read(file, columns=columns, **kwargs)

        def no_whole_table(*args, **kwargs):
            raise AssertionError("a streamed run must not read the whole table")

        monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy_row_groups)
        monkeypatch.setattr(pq.ParquetFile, "read", spy_read)
        monkeypatch.setattr(pd, "read_parquet", no_whole_table)
        monkeypatch.setattr(pq, "read_table", no_whole_table)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """A Parquet file of small row groups, trained once with --stream while every read is recorded."""
    folder = tmp_path_factory.mktemp("stream")
    frame = make_frame()
    path = folder / "big.parquet"
    frame.to_parquet(path, row_group_size=ROW_GROUP, index=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread beats two contending ones
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            spy = ReadSpy(monkeypatch)
            run = tc.train(data=str(path), target="label", stream=True, chunk_rows=CHUNK_ROWS, epochs=12,
                           hidden=[32], lr=0.01, out=folder / "runs" / "big", progress="quiet")
    finally:
        torch.set_num_threads(threads)
    return folder, path, frame, run, spy


def test_plan_chunks_groups_whole_row_groups_up_to_the_chunk_size():
    assert plan_chunks([500] * 6, 1000) == [[0, 1], [2, 3], [4, 5]]
    assert plan_chunks([500] * 3, 700) == [[0], [1], [2]]
    assert plan_chunks([300, 2000, 100, 100], 1000) == [[0], [1], [2, 3]]  # a large group is a chunk alone


def test_streamed_run_trains_well_on_the_in_memory_split_and_preprocessing(streamed):
    folder, path, frame, run, _ = streamed
    assert run.metrics["test"]["accuracy"] > 0.9
    config = tc.make_config(source=str(path), target="label", seed=0)
    dataset = tc.load_data(frame, "label")
    _, labels, _, splits = split_targets(dataset.y, config)
    preprocessor = Preprocessor.fit(dataset.X.iloc[splits["train"]])
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(run.splits[name], splits[name])
    # 3600 training rows < PREPROCESS_ROWS: the sample is every training row, so the state is identical
    assert run.classifier.preprocessor.to_dict() == preprocessor.to_dict()
    assert run.classifier.classes == labels.classes == ["high", "low", "mid"]
    assert run.summary["stream"] == {"chunk_rows": CHUNK_ROWS, "n_chunks": 6, "preprocess_rows": 3600,
                                     "valid_rows_per_epoch": 1200}
    assert json.loads((folder / "runs" / "big" / "config.json").read_text())["data"]["stream"] is True
    # the piecewise members' bins: the training rows' quantiles, as an in-memory run takes them
    assert run.config.model.recipe == "tabular" and run.config.model.piecewise == 2
    expected = PiecewiseLinear(preprocessor.number_inputs)
    expected.fit(torch.from_numpy(preprocessor.transform(dataset.X.iloc[splits["train"]])))
    binned = run.classifier.model.members[-1].piecewise
    assert torch.equal(binned.lo, expected.lo) and torch.equal(binned.inv_width, expected.inv_width)


def test_no_read_pulls_more_than_one_chunk_and_only_labels_are_read_whole(streamed):
    _, path, _, run, spy = streamed
    table = ParquetTable(path, "label", CHUNK_ROWS)
    assert len(table.chunks) == 6
    assert spy.file_reads and all(columns == ["label"] for columns in spy.file_reads)
    assert len(spy.group_reads) > 12 * 6  # 12 epochs of 6 training chunks, plus samples and predictions
    y = torch.as_tensor(np.zeros(len(run.splits["train"])))
    training = streamed_data.ParquetChunks(table, run.splits["train"], y, None, torch.device("cpu"), seed=0)
    for groups, columns in spy.group_reads:
        # exactly one chunk's row groups per read: a training chunk, or (predicting) consecutive groups
        assert groups in training.parts or groups in table.chunks, groups
        assert len(groups) * ROW_GROUP <= CHUNK_ROWS
        assert columns == ["a", "b", "colour"]
    training_reads = [groups for groups, _ in spy.group_reads if groups in training.parts]
    assert len(training_reads) == 12 * 6 and training.parts != table.chunks  # groups from all over the file


def _chunk_rows(chunks, part: list[int]) -> np.ndarray:
    """The training rows that chunk `part` (its row groups) holds, in file order."""
    group = np.searchsorted(chunks.table.group_starts, chunks.rows, side="right") - 1
    return chunks.rows[np.isin(group, part)]


def test_chunks_come_in_a_seeded_order_that_changes_between_epochs(streamed, monkeypatch):
    _, path, frame, run, _ = streamed
    config = tc.make_config(source=str(path), target="label", stream=True, chunk_rows=CHUNK_ROWS)
    stream = streamed_data.prepare_stream(config)
    train_rows = stream.splits["train"]
    y = torch.as_tensor(stream.codes[train_rows])
    spy = ReadSpy(monkeypatch)
    chunks = streamed_data.ParquetChunks(stream.table, train_rows, y, stream.preprocessor, torch.device("cpu"))
    assert sum(chunks.chunk_sizes) == len(chunks) == 3600 and len(chunks.chunk_sizes) == 6
    assert sorted(g for part in chunks.parts for g in part) == list(range(12))  # a partition of the groups
    assert streamed_data.ParquetChunks(stream.table, train_rows, y, None, None, seed=0).parts == chunks.parts
    assert streamed_data.ParquetChunks(stream.table, train_rows, y, None, None, seed=1).parts != chunks.parts

    def epochs(seed, n_epochs=4):
        generator, orders = torch.Generator().manual_seed(seed), []
        for _ in range(n_epochs):
            spy.group_reads.clear()
            parts = list(chunks.chunks(generator))
            orders.append([chunks.parts.index(groups) for groups, _ in spy.group_reads])
            assert [len(p) for p in parts] == [chunks.chunk_sizes[i] for i in orders[-1]]
        return orders, parts

    orders, parts = epochs(seed=0)
    assert all(sorted(order) == list(range(6)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1  # the order changes between epochs
    assert epochs(seed=0)[0] == orders  # and is the same on a rerun with the same seed
    # Each chunk holds exactly its training rows, preprocessed, with their own labels.
    for chunk, part in zip(orders[-1], parts):
        rows = _chunk_rows(chunks, chunks.parts[chunk])
        expected = stream.preprocessor.transform(frame.iloc[rows])
        np.testing.assert_array_equal(part.X.numpy(), expected)
        np.testing.assert_array_equal(part.y.numpy(), stream.codes[rows])


def test_a_chunk_with_a_single_training_row_joins_another(streamed):
    _, path, frame, _, _ = streamed
    stream = streamed_data.prepare_stream(tc.make_config(source=str(path), target="label", stream=True,
                                                    chunk_rows=ROW_GROUP))  # one row group per chunk
    rows = np.r_[0:600, 1500, 2000:2400]  # row group 3 (rows 1500-1999) holds a single row
    y = torch.as_tensor(stream.codes[rows])
    with pytest.warns(UserWarning, match="row groups hold ~500 rows"):  # one group a chunk: little mixing
        chunks = streamed_data.ParquetChunks(stream.table, rows, y, stream.preprocessor, torch.device("cpu"))
    assert sorted(g for part in chunks.parts for g in part) == [0, 1, 3, 4]  # groups 2, 5... hold no rows
    assert min(chunks.chunk_sizes) >= 2 and sum(chunks.chunk_sizes) == 1001
    (joined,) = [part for part in chunks.parts if 3 in part]
    assert len(joined) == 2
    for part, data in zip(chunks.parts, (chunks._load(i) for i in range(len(chunks.parts)))):
        expected = _chunk_rows(chunks, part)
        np.testing.assert_array_equal(data.X.numpy(), stream.preprocessor.transform(frame.iloc[expected]))
        np.testing.assert_array_equal(data.y.numpy(), stream.codes[expected])


def test_a_file_sorted_by_its_target_still_gives_mixed_chunks_and_trains(tmp_path):
    frame = make_frame().sort_values("label", kind="stable").reset_index(drop=True)
    path = tmp_path / "sorted.parquet"
    frame.to_parquet(path, row_group_size=100, index=False)  # 60 row groups, each of a single class
    run = tc.train(data=str(path), target="label", stream=True, chunk_rows=CHUNK_ROWS, epochs=12, hidden=[32],
                   lr=0.01, progress="quiet", seed=0)
    config = tc.make_config(source=str(path), target="label", stream=True, chunk_rows=CHUNK_ROWS)
    stream = streamed_data.prepare_stream(config)
    y = torch.as_tensor(stream.codes[stream.splits["train"]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = streamed_data.ParquetChunks(stream.table, stream.splits["train"], y, None, None, seed=0)
    assert not caught  # ten row groups a chunk: no advice needed
    for part in chunks.parts:  # consecutive groups would give chunks of one class each
        assert set(frame["label"].iloc[_chunk_rows(chunks, part)]) == {"high", "low", "mid"}
    assert run.metrics["test"]["accuracy"] > 0.9


def test_preprocessing_is_fitted_on_a_sample_of_training_rows_only(streamed, monkeypatch):
    _, path, frame, _, _ = streamed
    monkeypatch.setattr(streamed_data, "PREPROCESS_ROWS", 1000)
    fitted_on = []
    fit = Preprocessor.fit.__func__
    monkeypatch.setattr(Preprocessor, "fit", classmethod(lambda cls, X, **kw: fitted_on.append(X) or fit(cls, X, **kw)))
    monkeypatch.setattr(prepared_data, "LARGE_ENSEMBLE_ROWS", 2000)  # (3,600 training rows stand for a large table)
    config = tc.make_config(source=str(path), target="label", stream=True, chunk_rows=CHUNK_ROWS, recipe="tabular")
    stream = streamed_data.prepare_stream(config)
    assert stream.n_preprocess_rows == 1000 and len(fitted_on) == 1 and len(fitted_on[0]) == 1000
    assert set(fitted_on[0]["a"]) <= set(frame["a"].iloc[stream.splits["train"]])  # `a` is unique per row
    assert config.model.members == LARGE_TABLE_MEMBERS  # sized by the training split's rows, not the sample's


def test_metrics_cover_every_valid_and_test_row(streamed):
    folder, _, frame, run, _ = streamed
    metrics = json.loads((folder / "runs" / "big" / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == len(run.splits["test"]) == 1200
    assert metrics["valid"]["n_samples"] == len(run.splits["valid"]) == 1200
    # The chunk-by-chunk predictions match the saved model's on the same rows in memory.
    clf = tc.load(folder / "runs" / "big")
    test = frame.iloc[run.splits["test"]]
    again = clf.evaluate(test.drop(columns="label"), test[["label"]])
    assert again["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert again["f1_macro"] == pytest.approx(metrics["test"]["f1_macro"])


def test_saved_streamed_run_predicts_raw_rows_and_evaluates_from_the_cli(streamed):
    folder, path, frame, _, _ = streamed
    new = frame.iloc[:10].drop(columns="label").copy()
    new.iloc[0, new.columns.get_loc("colour")] = "ultraviolet"  # never seen in training
    new.iloc[1, new.columns.get_loc("b")] = np.nan
    new.to_csv(folder / "new_rows.csv", index=False)
    result = cli_in_process("predict", "runs/big", "new_rows.csv", "--proba", cwd=folder)
    assert result.returncode == 0, result.stderr
    predictions = pd.read_csv(io.StringIO(result.stdout))
    assert len(predictions) == 10 and set(predictions["label"]) <= {"high", "low", "mid"}
    result = cli_in_process("evaluate", "runs/big", "--data", path.name, "--split", "all", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and str(N_ROWS) in result.stdout
    test = cli_in_process("evaluate", "runs/big", cwd=folder)  # the run's own file: its test split, a chunk at a time
    assert test.returncode == 0 and json.loads((folder / "runs" / "big" / "metrics.json").read_text())[
        "test"]["n_samples"] == int(test.stdout.split("rows")[-1].split()[0])
    report = (folder / "runs" / "big" / "report.html").read_text()
    assert "seeded sample" in report and report.count("<img") >= 4  # pictures drawn from a bounded sample


@pytest.mark.parametrize("source, target, expected", [
    ("table.csv", "label", "torchclassify convert table.csv table.parquet"),
    ("moons", None, "drop --stream"),
    ("big.parquet", "nope", "target column 'nope' not found"),
])
def test_stream_bad_input_is_one_line_and_exit_2(streamed, source, target, expected):
    folder = streamed[0]
    if not (folder / "table.csv").exists():
        make_frame(50).to_csv(folder / "table.csv", index=False)
    args = ["train", "--data", source, "--stream", "--out", f"runs/bad-{source}", "--quiet"]
    result = cli_in_process(*args, *(["--target", target] if target else []), cwd=folder)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list((folder / "runs").glob("bad-*"))


def test_stream_settings_are_checked():
    with pytest.raises(tc.ConfigError, match="--chunk-rows applies to --stream only"):
        tc.make_config(source="big.parquet", target="y", chunk_rows=1000)
    with pytest.raises(tc.ConfigError, match="--chunk-rows must be"):
        tc.make_config(source="big.parquet", target="y", stream=True, chunk_rows=0)
    with pytest.raises(tc.ConfigError, match="drop --stream"):
        tc.train(data=make_frame(50), target="label", stream=True)



def test_an_interrupted_streamed_run_resumes_bit_identical(streamed, tmp_path):
    _, path, _, _, _ = streamed
    settings = dict(data=str(path), target="label", stream=True, chunk_rows=CHUNK_ROWS, epochs=5, hidden=[16],
                    lr=0.01, seed=4, progress="quiet")
    reference = tc.train(**settings)
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", callbacks=[InterruptAt(3)], checkpoint_every=1, **settings)
    resumed = tc.train(resume=tmp_path / "run", progress="quiet")
    weights, again = reference.classifier.model.state_dict(), resumed.classifier.model.state_dict()
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]
    assert resumed.metrics == reference.metrics


def test_no_stream_over_a_streamed_runs_config_drops_its_chunk_size(tmp_path):
    from torchclassify.cli import build_parser
    from torchclassify.commands.common import config_from_args

    config = tc.make_config(source="x.parquet", target="label", stream=True, chunk_rows=500)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    parser = build_parser()[0]
    args = parser.parse_args(["train", "--config", str(path), "--no-stream"])
    rerun = config_from_args(args)
    assert rerun.data.stream is False and rerun.data.chunk_rows is None
    with pytest.raises(tc.ConfigError, match="--stream only"):  # on the command line it is still refused
        config_from_args(parser.parse_args(["train", "--config", str(path), "--no-stream", "--chunk-rows", "9"]))


def test_convert_a_csv_then_stream_it_like_the_in_memory_csv(tmp_path):
    frame = make_frame(3000)
    frame["code"] = np.where(np.arange(3000) < 2500, "7", "x")  # digits for 2500 rows, then text
    frame["count"] = np.arange(3000) % 5  # whole numbers: int64, as pandas reads them
    frame.loc[frame.index[-1], "a"] = 1.0  # an integral value in a float column stays float
    frame.to_csv(tmp_path / "big.csv", sep=";", index=False)
    result = cli_in_process("convert", "big.csv", "big.parquet", "--row-group-rows", "500", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote 3,000 rows x 6 columns (3 as text) in 6 row groups" in result.stderr
    converted = pd.read_parquet(tmp_path / "big.parquet")
    whole = pd.read_csv(tmp_path / "big.csv", sep=";")
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_row_groups == 6
    assert str(converted["count"].dtype) == "int64" and str(converted["a"].dtype) == "float64"
    assert converted["code"].iloc[0] == "7" and converted["code"].iloc[-1] == "x"  # text throughout
    pd.testing.assert_frame_equal(converted.astype(object), whole.astype({"code": str}).astype(object))
    # the same rows as reading the CSV whole: the run from the Parquet trains like the in-memory one
    streamed = tc.train(data=str(tmp_path / "big.parquet"), target="label", stream=True, chunk_rows=1000,
                        epochs=5, hidden=[16], progress="quiet")
    in_memory = tc.train(data=str(tmp_path / "big.csv"), target="label", epochs=5, hidden=[16], progress="quiet")
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(streamed.splits[name], in_memory.splits[name])
    assert streamed.classifier.preprocessor.to_dict() == in_memory.classifier.preprocessor.to_dict()


@pytest.mark.parametrize("args, expected", [
    (["missing.csv", "out.parquet"], "file not found"),
    (["ok.csv", "out.csv"], "must end in .parquet"),
    (["ok.csv", "exists.parquet"], "exists: choose another name or add --overwrite"),
    (["ok.csv", "out.parquet", "--row-group-rows", "0"], "--row-group-rows must be at least 1"),
    (["header.csv", "out.parquet"], "no data rows"),
    (["already.parquet", "out.parquet"], "already.parquet is already a Parquet file: train from it with --stream"),
])
def test_convert_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    make_frame(20).to_csv(tmp_path / "ok.csv", index=False)
    make_frame(20).to_parquet(tmp_path / "already.parquet")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "exists.parquet").write_text("keep me")
    result = cli_in_process("convert", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out.parquet").exists() and (tmp_path / "exists.parquet").read_text() == "keep me"
    assert not list(tmp_path.glob(".out.parquet*"))


def test_a_failed_convert_removes_the_folders_it_made(tmp_path, monkeypatch):
    # Review: a conversion that failed left the new, empty destination folders behind.
    import errno

    import torchclassify.data.convert as convert_module

    def full_disk(path, write):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    make_frame(20).to_csv(tmp_path / "ok.csv", index=False)
    monkeypatch.setattr(convert_module, "atomic_write", full_disk)
    result = cli_in_process("convert", "ok.csv", "new/sub/out.parquet", cwd=tmp_path)
    assert result.returncode == 2 and "No space left on device" in result.stderr
    assert not (tmp_path / "new").exists()


def test_convert_keeps_whole_numbers_past_int64_as_numbers(tmp_path):
    # Review: 2**64 - 1 (pandas: uint64) was refused with "cannot safely convert ... int64".
    (tmp_path / "u64.csv").write_text(f"a,b\n{2**64 - 1},1\n5,0\n")
    result = cli_in_process("convert", "u64.csv", "u64.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "u64.parquet")
    assert str(frame["a"].dtype) == "float64" and frame["a"].tolist() == [float(2**64 - 1), 5.0]


def test_rows_with_no_label_are_left_out_of_a_streamed_run_as_in_memory(tmp_path):
    # A streamed file refused every row when a few had no label; in memory they are left out (test_messy_tables).
    frame = make_frame(n=1200, seed=3)
    frame["label"] = frame["label"].astype(object)
    gaps = [5, 6, 700, 1100]
    frame.loc[gaps, "label"] = None
    path = tmp_path / "gaps.parquet"
    frame.to_parquet(path, row_group_size=200, index=False)
    settings = dict(data=str(path), target="label", epochs=2, hidden=[8], progress="quiet")
    with pytest.warns(UserWarning, match="4 of 1,200 rows of gaps have no label"):
        streamed = tc.train(stream=True, chunk_rows=400, out=tmp_path / "s", **settings)
    with pytest.warns(UserWarning, match="4 of 1,200 rows of gaps have no label"):
        in_memory = tc.train(out=tmp_path / "m", **settings)
    kept = np.setdiff1d(np.arange(1200), gaps)
    for name in ("train", "valid", "test"):  # the file's row numbers, against the labelled rows' positions
        np.testing.assert_array_equal(streamed.splits[name], kept[in_memory.splits[name]])
    assert streamed.metrics["test"]["n_samples"] == in_memory.metrics["test"]["n_samples"] == 239
    assert streamed.summary["n_rows"] == 1200 and streamed.summary["unlabelled_rows"] == 4  # (the file's rows)
    # evaluate on the run's own file (its test split, or every labelled row) and the plots' sample of it
    from torchclassify.commands.evaluate import evaluate_streamed_split

    classifier = tc.load(tmp_path / "s")
    assert evaluate_streamed_split(classifier, streamed.config, "test")[1] == 239
    with pytest.warns(UserWarning, match="4 of 1,200 rows"):
        assert evaluate_streamed_split(classifier, streamed.config, "all")[1] == 1196
    dataset, splits = streamed_data.rebuild_streamed_rows(streamed.config, 1200)
    assert dataset.y.iloc[splits["test"]]["label"].notna().all() and len(splits["test"]) == 239
