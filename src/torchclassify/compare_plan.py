"""A comparison's plan (OUT/plan.json: each run's variant, seed and settings) and what continuing one needs:
whether OUT holds the same comparison, which run folders are finished, and their results read back checked;
and each planned run's name and folder."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .config import format_setting
from .errors import ConfigError, DataError, ModelFileError, TorchClassifyError
from .files import clean_for_json, read_json, to_json_text
from .run_folder import read_history, read_metrics

PLAN = "plan.json"  # the runs a comparison consists of: what a rerun must match to continue it
DATA = "data.json"  # what the data was when the comparison started: a continuation on other rows is refused


def data_identity(configs: list, data=None) -> dict[str, str]:
    """{source: digest} of the data the planned runs read: a file's sha256 (with the images a table lists), an
    image folder's images (names and contents), an in-memory table's values; generated and bundled sets are named by their
    settings in the plan already. DataError for a pipe (refuse_pipe)."""
    import hashlib

    import pandas as pd

    from .data.fingerprint import file_digests, hash_frame
    from .data.images import find_images

    if data is not None:
        return {"in-memory": hash_frame(data)} if isinstance(data, pd.DataFrame) else {}
    identity = {}
    for source in sorted({str(config.data.source) for config in configs}):
        path = Path(source)
        refuse_pipe(path, "each run of a comparison")
        digest = hashlib.sha256()
        if path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
            # a table of image paths: its bytes stay the same when a listed image is edited
            digest.update("\n".join(file_digests(listed_images(path), path.parent)).encode())
        elif path.is_dir():  # the images the runs read (find_images), by name and content
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (the runs say what find_images warns of)
                digest.update("\n".join(file_digests(find_images(path)[0], path)).encode())
        else:
            continue
        identity[source] = digest.hexdigest()
    return identity


def listed_images(path: Path) -> list[str]:
    """The image files a CSV/Parquet table lists (its column of image paths, resolved as training resolves
    them; those missing are left to the runs to report), or [] for a table of other columns. Its first rows
    decide, so a table of numbers is not read whole a second time."""
    from .data.images import image_column, resolve_paths
    from .data.tables import iter_table, read_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the runs say what reading the table warns of)
        first = next(iter_table(path, chunk_rows=256), None)
        column = image_column(first) if first is not None else None
        if column is None:
            return []
        paths = resolve_paths(read_table(path)[column].dropna(), path.parent)
    return [p for p in paths if Path(p).is_file()]


def refuse_pipe(path, readers: str) -> None:
    """DataError for a pipe that `readers` (each run of a comparison, each trial of a search) read again: a
    second open would wait forever for a writer long gone."""
    from .data.tables import is_pipe

    if is_pipe(path):
        raise DataError(f"{path} is a pipe, which can be read only once, and {readers} reads the data again: "
                        "write it to a file first")


def check_continuation(out: Path, plan: list[dict], overwrite: bool, identity: dict | None = None) -> bool:
    """Whether `out` holds this same comparison, unfinished or finished (continue it); ConfigError when it
    holds something else, or the same on data that changed since (identity: data_identity's), and overwrite
    is not given."""
    if overwrite or not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return False
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder path")
    if not (out / PLAN).exists():
        raise ConfigError(f"{out} already exists and is not a comparison: choose another --out or pass --overwrite")
    stored = read_json(out / PLAN, ConfigError, f"{out / PLAN}")
    if stored != json.loads(to_json_text(clean_for_json(plan))):
        raise ConfigError(f"{out} holds a different comparison (other variants, seeds or settings): rerun the same "
                          "command to continue it, choose another --out, or pass --overwrite to start again")
    stored = read_json(out / DATA, ConfigError, f"{out / DATA}") if (out / DATA).exists() else None
    if stored is not None and identity is not None and stored != identity:  # (comparisons started before: None)
        changed = ", ".join(sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k)))
        raise ConfigError(f"the data changed since {out} started ({changed}): its finished runs were trained on other "
                          "rows - pass --overwrite to start again, or restore the data to continue")
    return True


def finished(run_dir: Path) -> bool:
    """A complete run folder (it appears in one rename, so model.json means every file is there)."""
    return (run_dir / "model.json").is_file() and (run_dir / "metrics.json").is_file()


def finished_run(run_dir: Path) -> SimpleNamespace:
    """What compare needs from a finished run folder, read back checked: metrics, history, summary."""
    model = read_json(run_dir / "model.json", ModelFileError)
    summary = model.get("info", {}).get("summary") if isinstance(model, dict) else None
    if not isinstance(summary, dict) or "task" not in summary:
        raise ModelFileError(f"{run_dir} is not a finished torchclassify run: move it away or pass --overwrite")
    return SimpleNamespace(metrics=read_metrics(run_dir), history=read_history(run_dir), summary=summary)


def variant_name(variant: dict[str, Any]) -> str:
    """A short readable label, also the folder name: "hidden=none optimizer=sgd lr=0.1"."""
    if not variant:
        return "base"
    return " ".join(f"{k}={format_setting(v)}" for k, v in variant.items())


def _folder(name: str, seed: int) -> str:
    """The run folder's name: the variant in safe characters (cut at 100), then its seed, always kept."""
    safe = re.sub(r"[^A-Za-z0-9.,=+-]+", "_", name.replace(" ", "_")).strip("_")[:100] or "run"
    return f"{safe}_seed={seed}"


def run_folders(plan: list[dict]) -> list[str]:
    """One folder name per planned run, unique: names that differ only in characters a folder name cannot
    hold (drop=ä, drop=ö) get their place in the plan appended. A run listed twice is refused."""
    seen = set()
    for p in plan:
        if (p["variant"], p["seed"]) in seen:
            raise ConfigError(f"the variant {p['variant']} (seed {p['seed']}) is listed twice: give each once")
        seen.add((p["variant"], p["seed"]))
    names = [_folder(p["variant"], p["seed"]) for p in plan]
    return [f"{n}-{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def check_variants_on_data(named: list[tuple[str, Any]], data=None) -> None:
    """Fail before the first run when a variant's data settings cannot work: each distinct data section
    (--vary target, positive, ...) is read and split once, and each --class-weight mapping checked against
    its classes. Without it a bad value in the last variant surfaced after every other variant had trained.

    named: (variant name, RunConfig) per planned run. A comparison on one data section with no class-weight
    mappings is left to its first run (which checks the same things); streamed sections are left to their runs.
    """
    from .data.prepare import check_data
    from .workflow.training import class_weight_list

    sections: dict[str, list] = {}
    for name, config in named:
        sections.setdefault(to_json_text(clean_for_json(config.to_dict()["data"])), []).append((name, config))
    mapped = any(isinstance(config.train.class_weight, dict) for _, config in named)
    if len(sections) < 2 and not mapped:
        return
    for same_data in sections.values():
        name, first = same_data[0]
        if first.data.stream:
            continue
        try:
            with warnings.catch_warnings():  # the run itself says them, once
                warnings.simplefilter("ignore")
                labels = check_data(first, data)
            for name, config in same_data:
                class_weight_list(labels, config.train)
        except TorchClassifyError as err:
            raise type(err)(f"variant {name}: {err}") from None
