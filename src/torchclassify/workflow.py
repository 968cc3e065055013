"""The whole workflow in one call: load -> split -> preprocess -> build -> fit -> evaluate -> save.

`train(config)` is what `torchclassify train` runs; every step is also importable on its own.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .artifacts import RunWriter, clean_for_json, save_model, write_json
from .classifier import TrainedClassifier
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .data.augment import make_augmenter
from .data.labels import LabelEncoding
from .data.preprocess import Preprocessor
from .data.sources import Dataset, load_data
from .data.split import split_indices
from .data.stream import ParquetTable, plan_chunks, sample_rows
from .engine.callbacks import Callback, EarlyStopping, ProgressPrinter
from .engine.checkpoint import CHECKPOINT, Checkpoint, GradientWatch, read_checkpoint
from .engine.defaults import resolve_train_config
from .engine.device import resolve_device, seed_everything
from .engine.distributed import from_env as join_torchrun
from .engine.distributed import launched_by_torchrun
from .engine.loop import TensorData, fit, predict_logits
from .errors import ConfigError, DataError, TrainingError
from .evaluate import compute_metrics
from .models import count_parameters, make_model, summarize
from .tasks import detect_task, get_task


@dataclass
class Run:
    """The result of `train`: the classifier plus everything the run folder holds."""

    classifier: TrainedClassifier
    config: RunConfig
    history: list[dict[str, Any]]
    metrics: dict[str, dict]  # {"valid": {...}, "test": {...}}
    summary: dict[str, Any]
    run_dir: Path | None = None
    splits: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # row indices per split


_SECTIONS = {
    "data": {f.name for f in dataclasses.fields(DataConfig)},
    "model": {f.name for f in dataclasses.fields(ModelConfig)},
    "train": {f.name for f in dataclasses.fields(TrainConfig)},
}


def make_config(config: RunConfig | None = None, **settings) -> RunConfig:
    """A RunConfig from flat keyword settings, e.g. make_config(source="moons", hidden=[32], lr=0.01).

    data="..." is accepted as a synonym of source. Unknown names raise ConfigError.
    """
    config = RunConfig.from_dict(config.to_dict()) if config else RunConfig()  # a copy: never edit the caller's
    if "data" in settings and not isinstance(settings["data"], (pd.DataFrame, Dataset)):
        settings["source"] = settings.pop("data")
    for key, value in settings.items():
        section = next((name for name, keys in _SECTIONS.items() if key in keys), None)
        if section is None:
            raise ConfigError(f"unknown setting {key!r}")
        setattr(getattr(config, section), key, value)
    return config.validate()


def split_targets(y: pd.DataFrame, config: RunConfig):
    """Labels, task, encoded targets and the seeded (stratified) split, from the targets alone.

    y: (n, n_targets) raw targets of every row. Returns (task name, LabelEncoding, codes (n,) or (n, L),
    {"train", "valid", "test": sorted row indices}); in-memory and streamed runs share it, so they split alike.
    """
    labels = LabelEncoding.fit(y)
    task_name = detect_task(y.shape[1], labels.n_classes, config.data.task)
    codes = labels.encode(y)
    strat = None if labels.multilabel else codes
    train_idx, valid_idx, test_idx = split_indices(len(codes), strat, config.data.valid_size,
                                                   config.data.test_size, config.train.seed)
    if not labels.multilabel and len(np.unique(codes[train_idx])) < 2:
        raise DataError("the training split holds a single class: add rows of the other classes")
    return task_name, labels, codes, {"train": train_idx, "valid": valid_idx, "test": test_idx}


def prepare_data(dataset: Dataset, config: RunConfig):
    """Split, fit the preprocessing on train only, and encode: returns (task, labels, pre, arrays, splits)."""
    task_name, labels, codes, splits = split_targets(dataset.y, config)
    preprocessor = Preprocessor.fit(dataset.X.iloc[splits["train"]])
    arrays = {name: (preprocessor.transform(dataset.X.iloc[idx]), codes[idx]) for name, idx in splits.items()}
    return task_name, labels, preprocessor, arrays, splits


# --------------------------------------------------------------------------- a Parquet file larger than memory

# Streamed runs (--stream) hold only the targets of every row; features are read a chunk at a time. Three
# parts need rows in memory, so they take seeded random samples of bounded size instead:
PREPROCESS_ROWS = 100_000  # training rows the preprocessing (medians, scales, categories) is fitted on
VALID_ROWS = 50_000  # validation rows scored after each epoch (early stopping); final metrics use them all
PICTURE_ROWS = 10_000  # rows per split the report and `torchclassify plot` draw


@dataclass
class StreamedData:
    """A streamed Parquet file after the split: labels of every row, preprocessing fitted on a train sample."""

    table: ParquetTable
    y: pd.DataFrame  # (n_rows, n_targets) raw targets of every row
    task_name: str
    labels: LabelEncoding
    codes: np.ndarray  # every row's encoded target
    splits: dict[str, np.ndarray]
    preprocessor: Preprocessor
    n_preprocess_rows: int
    valid_rows: np.ndarray  # the validation rows scored after each epoch (at most VALID_ROWS)
    valid_X: pd.DataFrame  # their raw features


def prepare_stream(config: RunConfig) -> StreamedData:
    """Read the targets of every row, split as in memory, and fit the preprocessing on training rows only.

    The split is the one `prepare_data` makes of the same file and seed (both go through split_targets).
    The preprocessing is fitted on a seeded random sample of at most PREPROCESS_ROWS training rows (all of
    them when there are fewer), read chunk by chunk keeping only the sampled rows: medians, means, scales
    and the most frequent categories are estimated well from 100,000 rows, and the sample bounds memory.
    The same pass over the file reads the validation sample (at most VALID_ROWS rows) early stopping scores.
    """
    d, seed = config.data, config.train.seed
    table = ParquetTable(d.source, d.target, d.chunk_rows)
    y = table.read_targets()
    task_name, labels, codes, splits = split_targets(y, config)
    fit_rows = sample_rows(splits["train"], PREPROCESS_ROWS, (seed, 1))
    valid_rows = sample_rows(splits["valid"], VALID_ROWS, (seed, 2))
    rows = np.union1d(fit_rows, valid_rows)  # disjoint splits: one pass reads both samples
    raw = table.read_rows(rows)
    preprocessor = Preprocessor.fit(raw.iloc[np.searchsorted(rows, fit_rows)].reset_index(drop=True))
    valid_X = raw.iloc[np.searchsorted(rows, valid_rows)].reset_index(drop=True)
    return StreamedData(table, y, task_name, labels, codes, splits, preprocessor, len(fit_rows), valid_rows, valid_X)


class ParquetChunks:
    """The training rows of a streamed file as the engine's ChunkedData (engine.loop).

    The chunks are a seeded partition of the file's row groups: the groups holding training rows, in a
    random order, packed into chunks of at most the table's chunk_rows rows (a larger group is a chunk
    alone). So every chunk mixes row groups from all over the file, and a file sorted by its target still
    gives chunks of every class. The partition is fixed for the run (fixed chunk sizes, so the step count of
    an epoch is exact for schedules, and a resumed run reads the same chunks); the engine visits the chunks
    in a new seeded order each epoch and shuffles the rows within each. A chunk is one read of its row
    groups, keeps its training rows, and is preprocessed and moved to `device` just before the loop needs
    it. A chunk holding fewer than 2 training rows is joined to the one before it (a 1-row batch cannot
    train BatchNorm), still one read per chunk.
    No background prefetch: a thread preparing the next chunk (pandas and the preprocessing hold the GIL)
    made a 1.5M-row epoch slower, not faster, in one try on a busy 2-core machine (not yet measured idle).
    """

    def __init__(self, table: ParquetTable, rows: np.ndarray, y: torch.Tensor, preprocessor: Preprocessor,
                 device: torch.device, seed: int = 0):
        self.table, self.rows, self.preprocessor, self.device = table, np.asarray(rows, np.int64), preprocessor, device
        self.y = y  # (n,) or (n, L) encoded targets of `rows` (sorted), on device
        self._bounds = np.searchsorted(self.rows, table.group_starts)  # rows[_bounds[g]:_bounds[g + 1]] in group g
        counts = np.diff(self._bounds)
        self._group_rows = group_rows = np.diff(table.group_starts)
        shuffled = np.random.default_rng((seed, 4)).permutation(np.flatnonzero(counts))
        self.parts: list[list[int]] = []  # the row groups of each training chunk, in file order
        for packed in plan_chunks(group_rows[shuffled].tolist(), table.chunk_rows):
            groups = sorted(shuffled[packed].tolist())
            if self.parts and (counts[groups].sum() < 2 or counts[self.parts[-1]].sum() < 2):
                self.parts[-1] = sorted(self.parts[-1] + groups)
            else:
                self.parts.append(groups)
        self.chunk_sizes = [int(counts[part].sum()) for part in self.parts]
        typical_group = int(np.median(group_rows)) if len(group_rows) else 0
        if len(self.parts) > 1 and typical_group * 4 > table.chunk_rows:
            warnings.warn(f"{table.name}'s row groups hold ~{typical_group:,} rows, so a chunk of at most "
                          f"{table.chunk_rows:,} rows has fewer than 4 of them and rows mix little between "
                          "chunks: rewrite the file with smaller row groups (row_group_size=16384) or raise "
                          "--chunk-rows", stacklevel=2)

    def __len__(self) -> int:
        return len(self.rows)

    def chunks(self, generator: torch.Generator):
        """Every chunk once, in an order drawn from `generator`, as TensorData on `device`."""
        for i in torch.randperm(len(self.parts), generator=generator).tolist():
            yield self._load(i)

    def _load(self, i: int) -> TensorData:
        """Training chunk i: its rows read, preprocessed and put on the device."""
        groups = self.parts[i]
        # Positions of the training rows among the groups' rows laid end to end, and their places in `rows`.
        ranges = [np.arange(self._bounds[g], self._bounds[g + 1]) for g in groups]
        offsets = np.concatenate([[0], np.cumsum(self._group_rows[groups])])
        take = np.concatenate([self.rows[r] - self.table.group_starts[g] + offset
                               for r, g, offset in zip(ranges, groups, offsets)])
        frame = self.table.read_groups(groups, take)
        X = torch.from_numpy(self.preprocessor.transform(frame)).to(self.device)  # (n_chunk, n_inputs)
        index = torch.from_numpy(np.concatenate(ranges)).to(self.y.device)
        return TensorData(X, self.y[index])


def _predict_streamed(model, task, stream: StreamedData, names: list[str], device) -> dict[str, tuple]:
    """{split: (y_proba, y_true)} over every row of the named splits, predicted a chunk at a time."""
    rows = np.sort(np.concatenate([stream.splits[name] for name in names]))
    logits = [predict_logits(model, torch.from_numpy(stream.preprocessor.transform(frame)).to(device)).cpu()
              for _, _, frame in stream.table.iter_rows(rows)]
    y_proba = task.to_proba(task.squeeze_logits(torch.cat(logits)))  # rows in file order, like `rows`
    result = {}
    for name in names:
        in_split = torch.from_numpy(np.isin(rows, stream.splits[name]))
        result[name] = (y_proba[in_split], torch.as_tensor(stream.codes[stream.splits[name]]))
    return result


def sample_streamed_rows(config: RunConfig, splits: dict | None = None, max_rows: int = PICTURE_ROWS,
                         n_rows: int | None = None) -> tuple[Dataset, dict[str, np.ndarray]]:
    """A bounded picture of a streamed run's rows: (Dataset of the sampled rows, splits indexing into it).

    Up to max_rows seeded random rows of each split (the split redone from the targets when not given),
    read chunk by chunk; what the report and `torchclassify plot` draw for a run trained with --stream.
    n_rows: the rows the run trained on; DataError when the file now holds another number.
    """
    table = ParquetTable(config.data.source, config.data.target, config.data.chunk_rows)
    if n_rows is not None and table.n_rows != n_rows:
        raise DataError(f"{config.data.source} now has {table.n_rows} rows but the run trained on {n_rows}")
    y = table.read_targets()
    if splits is None:
        splits = split_targets(y, config)[3]
    picked = {name: sample_rows(idx, max_rows, (config.train.seed, 3)) for name, idx in splits.items()}
    rows = np.unique(np.concatenate(list(picked.values())))
    dataset = Dataset(table.read_rows(rows), y.iloc[rows].reset_index(drop=True), table.name,
                      f"a sample of {len(rows)} of {table.n_rows} rows from {table.name}")
    return dataset, {name: np.searchsorted(rows, idx) for name, idx in picked.items()}


@dataclass
class Resumable:
    """Where and how often a run with a folder checkpoints, and the checkpoint it resumes from (if any)."""

    folder: Path  # OUT.partial/
    out: Path
    every: int | None  # None: after the first epoch, then every ~10 s (engine.checkpoint)
    config: dict  # the settings before resolution: what `--resume` rebuilds the run from
    checkpoint: dict | None = None


def train(config: RunConfig | None = None, *, data: pd.DataFrame | Dataset | None = None, out=None,
          overwrite: bool = False, progress: str = "auto", callbacks: list[Callback] = (),
          resume=None, checkpoint_every: int | None = None, **settings) -> Run:
    """Run the whole workflow; with `out`, write the run folder atomically.

    config: a RunConfig, or None for defaults; keyword settings override it (see make_config).
    data: an in-memory DataFrame (with settings target=...) or Dataset instead of config.data.source.
        With stream=True, data is a Parquet path read a chunk of row groups at a time (see prepare_stream).
    progress: "auto" (bar on a terminal, lines when piped), "bar", "lines" or "quiet".
    resume: the `out` folder of an interrupted run; continues it from OUT.partial/ with the settings stored
        there (give no config or settings), ending bit-identical (on CPU) to an uninterrupted run.
    checkpoint_every: with `out`, checkpoint into OUT.partial/ every this many epochs (None: after the
        first epoch, then every ~10 seconds of training).
    """
    if isinstance(data, str):
        settings["source"], data = data, None
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or isinstance(checkpoint_every, bool)
                                         or checkpoint_every < 1):
        raise ConfigError(f"--checkpoint-every must be a whole number >= 1, got {checkpoint_every!r}")
    if resume is not None:
        if config is not None or settings or out is not None:
            raise ConfigError("resume takes every setting from the interrupted run: give no other settings or out")
        out = Path(resume)
        out = out.with_name(out.name[:-len(".partial")]) if out.name.endswith(".partial") else out
    else:
        config = make_config(config, **settings)
        if data is not None:
            config.data.source = "<dataframe>"
    if launched_by_torchrun() and int(os.environ["RANK"]) != 0:
        if resume is not None:
            raise ConfigError("resume is not supported under torchrun yet: resume in one process")
        out, progress = None, "quiet"  # only rank 0 writes the run folder and prints
    writer = RunWriter(Path(out), overwrite, resume=resume is not None) if out is not None else None
    try:
        saving = None
        if writer is not None:
            checkpoint = None
            if resume is not None:
                config, checkpoint = _read_resume_state(writer.partial)
                if config.data.source == "<dataframe>" and data is None:
                    raise ConfigError(f"{out} was trained on an in-memory table: pass the same data= to resume it")
            else:
                write_json(writer.partial / "config.json", config.to_dict())
            saving = Resumable(writer.partial, out, checkpoint_every, config.to_dict(), checkpoint)
        run = _train(config, data, progress, list(callbacks), saving)
        if writer is not None:
            write_run(writer, run)
            run.run_dir = writer.commit()
        return run
    except BaseException as err:
        if writer is not None:
            # Keep OUT.partial/ when there is progress to resume from; a run that failed before its first
            # checkpoint (bad data, bad settings) leaves nothing behind.
            writer.abort(keep=isinstance(err, KeyboardInterrupt) or resume is not None
                         or (writer.partial / CHECKPOINT).exists())
            if isinstance(err, KeyboardInterrupt) and not getattr(err, "reported", False):
                print(f"interrupted outside training: resume with: torchclassify train --resume {out}",
                      file=sys.stderr, flush=True)
        raise


def _read_resume_state(partial: Path) -> tuple[RunConfig, dict | None]:
    """(settings, checkpoint or None) of an interrupted run: from its checkpoint, else from its config.json."""
    from .run_files import read_run_config

    if (partial / CHECKPOINT).exists():
        checkpoint = read_checkpoint(partial / CHECKPOINT)
        return RunConfig.from_dict(checkpoint["meta"]["config"]), checkpoint
    raw = read_run_config(partial)  # killed before its first checkpoint: start again with the same settings
    if not raw:
        raise ConfigError(f"{partial} holds no settings to resume from: start the run again with --overwrite")
    return RunConfig.from_dict(raw), None


def _train(config: RunConfig, data, progress: str, callbacks: list[Callback], saving: Resumable | None = None) -> Run:
    started = time.perf_counter()
    stream = None
    if config.data.stream:
        if data is not None:
            raise ConfigError("stream=True reads a Parquet file by path: pass data='file.parquet', not a table")
        stream = prepare_stream(config)
        task_name, labels, preprocessor, splits = stream.task_name, stream.labels, stream.preprocessor, stream.splits
        table = stream.table
        name, n_rows, n_columns, y_raw = table.name, table.n_rows, len(table.feature_columns), stream.y
    else:
        if isinstance(data, pd.DataFrame):
            dataset = load_data(data, config.data.target)
            config.data.source = "<dataframe>"
        elif isinstance(data, Dataset):
            dataset = data
        else:
            dataset = load_data(config.data.source, config.data.target, n_samples=config.data.n_samples,
                                noise=config.data.noise, seed=config.train.seed)
        task_name, labels, preprocessor, arrays, splits = prepare_data(dataset, config)
        name, n_rows, n_columns, y_raw = dataset.name, len(dataset.X), dataset.X.shape[1], dataset.y
    config.data.task = task_name
    task = get_task(task_name)
    device = resolve_device(config.train.device)
    dist = join_torchrun(device)  # SingleProcess unless started by torchrun
    device = getattr(dist, "device", device)  # under torchrun on CUDA: this rank's GPU
    has_valid = len(splits["valid"]) > 0
    config.train = resolve_train_config(config.train, len(splits["train"]), has_valid)
    t = config.train

    def tensors(X, y):
        return TensorData(torch.from_numpy(X).to(device), torch.as_tensor(y).to(device, task.target_dtype()))

    if stream is None:
        train_data, valid_data = tensors(*arrays["train"]), (tensors(*arrays["valid"]) if has_valid else None)
    else:  # the training rows a chunk at a time; a bounded sample of the validation rows in memory
        y_train = torch.as_tensor(stream.codes[splits["train"]]).to(device, task.target_dtype())
        train_data = ParquetChunks(stream.table, splits["train"], y_train, preprocessor, device, t.seed)
        valid_data = None
        if has_valid:
            valid_data = tensors(preprocessor.transform(stream.valid_X), stream.codes[stream.valid_rows])
    seed_everything(t.seed)
    n_outputs = task.n_outputs(labels.n_classes)
    model = make_model(config.model, preprocessor.n_features_out, n_outputs).to(device)
    generator = torch.Generator(device="cpu").manual_seed(t.seed)
    augment = make_augmenter(config.data.augment, config.data.augment_strength, task.to_soft_targets,
                             labels.n_classes, generator)
    summary = {
        "dataset": name, "task": task_name, "classes": labels.classes,
        "n_rows": n_rows, "n_columns": n_columns,
        "numeric_columns": [c.name for c in preprocessor.numeric],
        "categorical_columns": preprocessor.categorical_columns,
        "n_inputs": preprocessor.n_features_out, "n_outputs": n_outputs,
        "split_sizes": {k: int(len(v)) for k, v in splits.items()},
        "class_counts": _class_counts(y_raw, labels, splits["train"]),
        "parameters": count_parameters(model), "layers": summarize(model),
        "device": str(device), "early_stopping": t.early_stopping, "processes": dist.world_size,
    }
    if stream is not None:
        summary["stream"] = {"chunk_rows": stream.table.chunk_rows, "n_chunks": len(train_data.chunk_sizes),
                             "preprocess_rows": stream.n_preprocess_rows,
                             "valid_rows_per_epoch": len(valid_data) if valid_data is not None else 0}
    if progress != "quiet":
        print(describe_setup(summary, config), file=sys.stderr, flush=True)
    all_callbacks = list(callbacks)
    if t.early_stopping:
        all_callbacks.insert(0, EarlyStopping(patience=t.patience))
    all_callbacks.append(GradientWatch())
    checkpoint = None
    if saving is not None:  # after early stopping, so that each checkpoint holds its state for that epoch
        checkpoint = Checkpoint(saving.folder, saving.every, [c for c in all_callbacks if isinstance(c, EarlyStopping)],
                                saving.config)
        all_callbacks.append(checkpoint)
    all_callbacks.append(ProgressPrinter(progress))
    try:
        state = fit(model, task, train_data, valid_data, t, n_classes=labels.n_classes, n_epochs=t.epochs,
                    batch_size=t.batch_size or len(train_data), callbacks=all_callbacks, augment=augment,
                    generator=generator, resume=saving.checkpoint if saving else None, dist=dist)
        dist.close()  # the final evaluation below needs no collectives
    except TrainingError as err:
        if checkpoint is None or checkpoint.saved_epoch is None:
            raise
        raise TrainingError(f"{err} (the last good checkpoint, epoch {checkpoint.saved_epoch}, is kept in "
                            f"{saving.folder})") from None
    except KeyboardInterrupt as err:
        if saving is not None:
            early = next((c for c in all_callbacks if isinstance(c, EarlyStopping)), None)
            if early is not None and early.best_state is not None:
                model.load_state_dict(early.best_state)
            best = TrainedClassifier(model.eval(), task_name, preprocessor, labels, config.model, t.threshold,
                                     info={"dataset": name, "interrupted": True})
            _save_interrupted(saving, best, checkpoint)
            err.reported = True  # train() need not say it again
        raise
    model.eval()
    classifier = TrainedClassifier(model, task_name, preprocessor, labels, config.model, t.threshold,
                                   info={"dataset": name})
    evaluated = [split for split in ("valid", "test") if len(splits[split])]
    if stream is not None and evaluated:  # every valid and test row, predicted a chunk at a time
        predictions = _predict_streamed(model, task, stream, evaluated, device)
    else:
        predictions = {}
        for split in evaluated:
            X, y = arrays[split]
            logits = task.squeeze_logits(predict_logits(model, torch.from_numpy(X).to(device))).cpu()
            predictions[split] = (task.to_proba(logits), torch.as_tensor(y))
    metrics = {split: compute_metrics(task, y_proba, y_true, labels.classes, t.threshold)
               for split, (y_proba, y_true) in predictions.items()}
    # seconds: the whole call (loading, first imports, evaluation); train_seconds: the epochs alone.
    summary.update(epochs_run=state.epoch, best_epoch=state.best_epoch, stop_reason=state.stop_reason,
                   seconds=round(time.perf_counter() - started, 3),
                   train_seconds=round(sum(record["seconds"] for record in state.history), 3))
    from .diagnose import diagnose  # plain sentences when the history supports them ([] on a healthy run)

    summary["diagnosis"] = diagnose(state.history, config, summary)
    return Run(classifier, config, state.history, metrics, summary, splits=splits)


def fit_in_memory(X: pd.DataFrame, y: pd.DataFrame, config: RunConfig, *, callbacks: list[Callback] = (),
                  progress: str = "quiet") -> Run:
    """Fit on rows already in memory: the same pipeline as `train`, with no test split and no run folder.

    X: (n_samples, n_columns) raw feature columns; y: (n_samples, 1) labels or (n_samples, L) 0/1 columns.
    config.data.valid_size rows are held out for early stopping (0: train on every row). Returns the Run
    (classifier, resolved config, per-epoch history); the estimator builds on this.
    """
    config = make_config(config, test_size=0.0)
    config.data.source = "<in-memory>"
    return _train(config, Dataset(X, y, "<in-memory>"), progress, list(callbacks))


def _save_interrupted(saving: Resumable, best: TrainedClassifier, checkpoint: Checkpoint) -> None:
    """After Ctrl-C: write the best model so far to OUT.partial/best/ and say how to resume."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".best-", dir=saving.folder))
    try:
        save_model(best, tmp)
        shutil.rmtree(saving.folder / "best", ignore_errors=True)
        tmp.rename(saving.folder / "best")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    state = checkpoint.state
    done = f"after epoch {checkpoint.saved_epoch}" if checkpoint.saved_epoch else "before the first checkpoint"
    best_epoch = f" (epoch {state.best_epoch})" if state is not None and state.best_epoch else ""
    print(f"interrupted: progress is saved {done}; the best model so far{best_epoch} is in {saving.folder / 'best'}\n"
          f"resume with: torchclassify train --resume {saving.out}", file=sys.stderr, flush=True)


def _class_counts(y: pd.DataFrame, labels: LabelEncoding, train_idx: np.ndarray) -> dict[str, int]:
    y = y.iloc[train_idx]
    if labels.multilabel:
        return {str(c): int(y[c].sum()) for c in labels.classes}
    counts = y.iloc[:, 0].map(str).value_counts()
    return {str(c): int(counts.get(str(c), 0)) for c in labels.classes}


def describe_setup(summary: dict, config: RunConfig) -> str:
    """A few lines about data, model and settings, printed before training starts."""
    t = config.train
    sizes = summary["split_sizes"]
    layers = " -> ".join(
        f"{row['type']}({row['details']})" if row["type"] == "Linear" else row["type"] for row in summary["layers"])
    batch = "full" if t.batch_size == 0 else t.batch_size
    streamed = summary.get("stream")
    stream_line = [] if not streamed else [(
        f"stream   {streamed['n_chunks']} chunks of up to {streamed['chunk_rows']} rows; preprocessing fitted on "
        f"{streamed['preprocess_rows']} training rows; validation on {streamed['valid_rows_per_epoch']} rows "
        "per epoch")]
    return "\n".join([
        f"data     {summary['dataset']}: {summary['n_rows']} rows, {summary['n_columns']} columns "
        f"({len(summary['numeric_columns'])} numeric, {len(summary['categorical_columns'])} categorical) "
        f"-> {summary['n_inputs']} inputs; task {summary['task']} with {len(summary['classes'])} "
        f"{'labels' if summary['task'] == 'multilabel' else 'classes'}",
        f"split    train {sizes['train']}, valid {sizes['valid']}, test {sizes['test']} (seed {t.seed})",
        *stream_line,
        f"model    {layers}; {summary['parameters']:,} parameters on {summary['device']}",
        f"train    {t.optimizer} lr {t.lr:g}, weight decay {t.weight_decay:g}, batch {batch}, up to {t.epochs} "
        f"epochs" + (f", early stopping (patience {t.patience})" if t.early_stopping else ""),
    ])


def write_run(writer: RunWriter, run: Run) -> None:
    """config.json, model.safetensors, model.json, history.csv, metrics.json, report.html."""
    write_json(writer.path("config.json"), run.config.to_dict())
    run.classifier.info.update({"summary": clean_for_json(run.summary)})
    save_model(run.classifier, writer.tmp)
    pd.DataFrame(run.history).to_csv(writer.path("history.csv"), index=False)
    write_json(writer.path("metrics.json"), clean_for_json(run.metrics))
    # The report last, from what is already computed; a failure there must not cost the trained model.
    from .report import RunView, write_report

    try:
        write_report(RunView.from_run(run), writer.path("report.html"))
    except Exception as err:
        import warnings

        warnings.warn(f"report.html was not written ({type(err).__name__}: {err}); rebuild it later with "
                      "`torchclassify report RUN`", stacklevel=2)
