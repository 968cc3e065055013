"""Compare variants: a grid of settings expanded into normal runs, ranked on the validation metric.

Each variant x seed is an ordinary run folder (its config.json reruns it); the comparison adds
runs.csv (one row per run), ranking.csv (one row per variant, mean and std over seeds), curves.png
and compare.html. Test metrics are shown next to the ranking but never used to order it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .compare_plan import (
    DATA,
    PLAN,
    check_continuation,
    check_variants_on_data,
    data_identity,
    finished,
    finished_run,
    run_folders,
    variant_name,
)
from .config import SETTINGS, check_value, make_config, parse_setting, setting_name, spec
from .diagnose import diagnose_error
from .errors import ConfigError, DataError, TrainingError
from .files import atomic_write, clean_for_json, read_bytes, to_json_text
from .run_folder import partial_path
from .tasks import get_task
from .tracking import ParentRun, make_tracking
from .workflow import train

LINK = ":"  # "optimizer:lr" varies several settings together: values "sgd:0.1"
# What Ctrl-C in a variant's run tells the user: the comparison goes on, not that one run.
CONTINUE = "the same compare again, without --overwrite (its finished runs are reused, this one resumed)"
COMPARISON_FILES = ("ranking.csv", "runs.csv", "comparison.json", "curves.png", "compare.html")


@dataclass
class Comparison:
    """What `compare` returns.

    runs: one dict per (variant, seed): variant, seed, run_dir, status, metrics, history, diagnosis.
    ranking: one dict per variant, best first: mean/std of the validation metric, test mean, diagnosis.
    """

    out: Path
    main_metric: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    n_reused: int = 0  # finished runs of an earlier, interrupted call that were reused, not retrained


def parse_value(name: str, value: Any) -> Any:
    """A value from a grid file or the command line: text is parsed exactly like the train flag."""
    if name not in SETTINGS:
        raise ConfigError(f"cannot vary {name!r}: it is not a train setting (see `torchclassify train --help`)")
    if isinstance(value, str):
        return parse_setting(name, value)
    if spec(name).kind == "widths" and isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return check_value(name, value)


def expand_grid(grid: dict[str, list]) -> list[dict[str, Any]]:
    """The product of the grid's axes as a list of {setting: value} dicts (one per variant).

    grid: {"hidden": ["none", "16,16"], "optimizer:lr": ["sgd:0.1", "adam:0.01"]}; a key joined with ":"
    varies its settings together (values as "a:b" text or [a, b] lists).
    """
    axes = []
    for key, values in grid.items():
        names = [setting_name(k) for k in key.split(LINK)]
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"grid entry {key!r} must be a non-empty list of values")
        options = []
        for value in values:
            parts = value.split(LINK) if isinstance(value, str) and len(names) > 1 else value
            if len(names) > 1:
                if not isinstance(parts, (list, tuple)) or len(parts) != len(names):
                    raise ConfigError(f"grid entry {key!r} needs {len(names)} values per option like "
                                      f"{LINK.join(['VALUE'] * len(names))}, got {value!r}")
            else:
                parts = [parts]
            options.append({n: parse_value(n, v) for n, v in zip(names, parts)})
        axes.append(options)
    variants = []
    for combination in itertools.product(*axes):
        variant: dict[str, Any] = {}
        for part in combination:
            variant.update(part)
        variants.append(variant)
    return variants


def read_grid_file(path: Path) -> dict[str, Any]:
    """A TOML (or, when PyYAML is installed, YAML) file: tables/keys base, grid, seeds.

    base: fixed settings for every variant; grid: {setting: [values]}; seeds: a count or a list.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"grid file not found: {path}")
    try:
        text = read_bytes(path, 2**20, ConfigError, f"grid file {path}").decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"grid file {path} is not UTF-8 text") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path} is YAML but PyYAML is not installed: pip install pyyaml, or write TOML") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    else:
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path} is not valid TOML: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("grid", {}), dict):
        raise ConfigError(f"{path} must hold a 'grid' table of setting = [values]")
    unknown = set(raw) - {"base", "grid", "seeds"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; expected base, grid, seeds")
    return raw


def seed_list(seeds: int | list[int] | None, first: int) -> list[int]:
    """A count n gives first, first+1, ...; a list is used as is."""
    if seeds is None:
        return [first]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {seeds}")
        return [first + i for i in range(seeds)]
    if isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, int) for s in seeds):
        return list(seeds)
    raise ConfigError(f"seeds must be a count or a list of whole numbers, got {seeds!r}")


def compare(base, variants: list[dict[str, Any]], *, seeds: list[int] | None = None, out="runs/compare",
            overwrite: bool = False, progress: str = "quiet", data=None, log=None, track=None,
            tracking_uri: str | None = None) -> Comparison:
    """Train every variant (x seed) as a normal run under out/runs/ and rank them.

    base: a RunConfig (or None) that every variant starts from; variants: [{setting: value}, ...].
    seeds: the seeds each variant is trained with (the seed also draws the split; default [base seed]).
    Ranking: mean validation main metric over seeds, ties broken by the lower mean validation loss.
    A run that diverges (NaN loss) is kept in the table as "diverged", ranked last, with its diagnosis.
    log: a function called with one line per finished run (the CLI prints them).
    A comparison that was killed or failed is continued by calling it again with the same arguments: its
    finished runs are reused (result.n_reused), an interrupted one resumed; overwrite=True starts again.
    track, tracking_uri: as train's; with MLflow, one parent run for the command and a nested run per
    variant x seed; with TensorBoard, each run's event files in its folder (`tensorboard --logdir OUT/runs`).
    """
    tracking = make_tracking(track, tracking_uri)
    with ParentRun(tracking, "compare", Path(out).name, make_config(base)) as parent:
        result = _compare(base, variants, seeds=seeds, out=out, overwrite=overwrite, progress=progress, data=data,
                          log=log, parent=parent)
        best = result.ranking[0] if result.ranking else {}
        parent.finish(files=[result.out / name for name in COMPARISON_FILES],
                      metrics={k: v for k, v in best.items() if k.startswith(("valid_", "test_"))
                               and isinstance(v, float) and math.isfinite(v)},  # the best variant's means
                      tags={"torchclassify.best_variant": best.get("variant", "")})
    return result


def _compare(base, variants: list[dict[str, Any]], *, seeds: list[int] | None, out, overwrite: bool,
             progress: str, data, log, parent: ParentRun) -> Comparison:
    """compare's work: train each variant x seed (its tracking from `parent`), rank them, write the files."""
    out = Path(out)
    configs = []
    for variant in variants or [{}]:
        for seed in seeds or [make_config(base).train.seed]:
            configs.append((variant, seed, make_config(base, **{**variant, "seed": seed})))  # fail before training
    plan = [{"variant": variant_name(v), "seed": seed, "config": c.to_dict()} for v, seed, c in configs]
    folders = run_folders(plan)
    identity = data_identity([config for _, _, config in configs], data)
    continuing = check_continuation(out, plan, overwrite, identity)
    check_variants_on_data([(variant_name(v), config) for v, _, config in configs], data)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    atomic_write(out / PLAN, to_json_text(clean_for_json(plan)))
    if not continuing or not (out / DATA).exists():
        atomic_write(out / DATA, to_json_text(identity))
    result = Comparison(out, "")
    if continuing and log is not None:
        done = sum(finished(out / "runs" / folder) for folder in folders)
        log(f"continuing {out}: {done} of {len(plan)} runs already finished are reused, not retrained")
    for (variant, seed, config), folder in zip(configs, folders):
        name = variant_name(variant)
        run_dir = out / "runs" / folder
        row: dict[str, Any] = {"variant": name, "settings": variant, "seed": seed, "run_dir": str(run_dir)}
        try:
            track = parent.child(f"{name} seed={seed}")
            if continuing and finished(run_dir):
                run = finished_run(run_dir)
                result.n_reused += 1
            elif continuing and partial_path(run_dir).is_dir():  # killed while training: continue it
                run = train(data=data, resume=run_dir, progress=progress, track=track, continue_with=CONTINUE)
            else:
                run = train(config, data=data, out=run_dir, overwrite=overwrite, progress=progress, track=track,
                            continue_with=CONTINUE)
        except TrainingError as err:
            row.update(status="diverged", metrics={}, history=[], diagnosis=diagnose_error(str(err), config),
                       error=str(err), run_dir=None)
        else:
            result.main_metric = get_task(run.summary["task"]).main_metric
            row.update(status="ok", metrics=run.metrics, history=run.history,
                       diagnosis=run.summary.get("diagnosis", []), epochs=run.summary["epochs_run"],
                       seconds=run.summary["train_seconds"])  # the epochs: the first run also pays the imports
        result.runs.append(row)
        if log is not None:
            log(_run_line(row, result.main_metric))
    result.main_metric = result.main_metric or "accuracy"
    result.ranking = rank(result.runs, result.main_metric)
    write_comparison(result)
    return result


def _run_line(row: dict, metric: str) -> str:
    if row["status"] != "ok":
        return f"{row['variant']} seed={row['seed']}: diverged"
    valid = row["metrics"].get("valid", {}).get(metric)
    return f"{row['variant']} seed={row['seed']}: valid {metric} {_fmt(valid)}"


def _fmt(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def rank(runs: list[dict], metric: str) -> list[dict[str, Any]]:
    """One row per variant (in first-seen order), sorted best first on the validation metric only."""
    by_variant: dict[str, list[dict]] = {}
    for row in runs:
        by_variant.setdefault(row["variant"], []).append(row)
    table = []
    for name, rows in by_variant.items():
        ok = [r for r in rows if r["status"] == "ok" and "valid" in r["metrics"]]

        def values(split, key, ok=ok):
            return np.array([r["metrics"][split][key] for r in ok if key in r["metrics"].get(split, {})], float)

        valid, loss, test = values("valid", metric), _final_losses(ok), values("test", metric)
        diagnosis = []
        for r in rows:  # every distinct sentence once, in the order the seeds produced them
            diagnosis += [s for s in r["diagnosis"] if s not in diagnosis]
        table.append({
            "variant": name, "settings": rows[0]["settings"], "n_runs": len(rows),
            "n_diverged": sum(r["status"] != "ok" for r in rows),
            f"valid_{metric}_mean": float(valid.mean()) if len(valid) else math.nan,
            f"valid_{metric}_std": float(valid.std(ddof=1)) if len(valid) > 1 else 0.0 if len(valid) else math.nan,
            "valid_loss_mean": float(loss.mean()) if len(loss) else math.nan,
            f"test_{metric}_mean": float(test.mean()) if len(test) else math.nan,
            f"test_{metric}_std": float(test.std(ddof=1)) if len(test) > 1 else 0.0 if len(test) else math.nan,
            "diagnosis": diagnosis,
        })

    def key(row):  # diverged or unmeasured last; then higher validation metric; then lower validation loss
        value, loss = row[f"valid_{metric}_mean"], row["valid_loss_mean"]
        return (math.isnan(value), -value if not math.isnan(value) else 0.0, loss if not math.isnan(loss) else math.inf)

    table.sort(key=key)
    for i, row in enumerate(table, 1):
        row["rank"] = i
    return table


def _final_losses(rows: list[dict]):
    """Validation loss of the weights each run kept (the best epoch under early stopping, else the last)."""
    losses = []
    for r in rows:
        valid = [h["valid_loss"] for h in r["history"] if "valid_loss" in h]
        if valid:
            losses.append(min(valid))
    return np.array(losses, float)


def ranking_text(result: Comparison) -> str:
    """The ranked table as aligned text, then each variant's diagnosis."""
    m = result.main_metric
    header = f"{'rank':>4}  {'valid ' + m:>22}  {'test ' + m:>22}  {'runs':>4}  variant"
    lines = [header]
    for row in result.ranking:
        lines.append(f"{row['rank']:>4}  {_mean_std(row[f'valid_{m}_mean'], row[f'valid_{m}_std']):>22}  "
                     f"{_mean_std(row[f'test_{m}_mean'], row[f'test_{m}_std']):>22}  {row['n_runs']:>4}  "
                     f"{row['variant']}" + (f"  ({row['n_diverged']} diverged)" if row["n_diverged"] else ""))
    lines.append(f"(ranked on the validation {m}; test is shown, never used to choose)")
    for row in result.ranking:
        for sentence in diagnosis_lines(result, row["variant"]):
            lines.append(f"{row['variant']}: {sentence}")
    return "\n".join(lines)


def _mean_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.4f} ± {std:.4f}"


def write_comparison(result: Comparison) -> None:
    """runs.csv, ranking.csv, comparison.json, curves.png and compare.html in result.out."""
    m = result.main_metric
    runs = pd.DataFrame([{
        "variant": r["variant"], "seed": r["seed"], "status": r["status"], "run_dir": r["run_dir"],
        f"valid_{m}": r["metrics"].get("valid", {}).get(m), f"test_{m}": r["metrics"].get("test", {}).get(m),
        "epochs": r.get("epochs"), "seconds": r.get("seconds"), "diagnosis": " ".join(r["diagnosis"]),
    } for r in result.runs])
    ranking = pd.DataFrame([{k: (" ".join(v) if k == "diagnosis" else v) for k, v in row.items() if k != "settings"}
                            for row in result.ranking])
    atomic_write(result.out / "runs.csv", lambda p: runs.to_csv(p, index=False))
    atomic_write(result.out / "ranking.csv", lambda p: ranking.to_csv(p, index=False))
    summary = {"main_metric": m, "ranking": result.ranking,
               "runs": [{k: v for k, v in r.items() if k != "history"} for r in result.runs]}
    atomic_write(result.out / "comparison.json", to_json_text(clean_for_json(summary)))
    figure = curves_figure(result)
    atomic_write(result.out / "curves.png", lambda p: figure.savefig(p, format="png", dpi=110))
    html = comparison_html(result, figure)
    atomic_write(result.out / "compare.html", html)


def curves_figure(result: Comparison):
    """Validation loss and validation metric per epoch, one colour per variant (ranking order), one line
    per seed, the legend below the panels. Returns a matplotlib Figure (no pyplot)."""
    from .plots import ComparisonCurvesDisplay

    order = [row["variant"] for row in result.ranking]
    return ComparisonCurvesDisplay.from_runs(result.runs, result.main_metric, order=order).figure_


def diagnosis_lines(result: Comparison, variant: str) -> list[str]:
    """A variant's diagnosis, one line per sentence, labelled by seed when the seeds disagree.

    The same sentences from every seed: said once, unlabelled. Otherwise each distinct set of sentences once,
    prefixed with the seed(s) that produced it ("seeds 0, 2: ..."); seeds with nothing to say are left out.
    """
    runs = [r for r in result.runs if r["variant"] == variant]
    if not runs:
        return []
    said = [tuple(r["diagnosis"]) for r in runs]
    if len(set(said)) == 1:
        return list(said[0])
    groups: dict[tuple, list] = {}
    for r, sentences in zip(runs, said):
        if sentences:
            groups.setdefault(sentences, []).append(str(r["seed"]))
    lines = []
    for sentences, seeds in groups.items():
        label = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}"
        lines += [f"{label}: {sentence}" for sentence in sentences]
    return lines


def comparison_html(result: Comparison, figure) -> str:
    """compare.html: the ranked table, the overlaid curves and each variant's diagnosis, one self-contained page."""
    from html import escape

    from .report import figure_html, html_page

    m = result.main_metric

    def diagnosis_cell(variant):
        lines = diagnosis_lines(result, variant)
        if not lines:
            return "-"
        return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"

    rows = "".join(
        f"<tr><td class=\"num\">{row['rank']}</td><td class=\"wrap settings\">{escape(row['variant'])}</td>"
        f"<td class=\"num\">{_mean_std(row[f'valid_{m}_mean'], row[f'valid_{m}_std'])}</td>"
        f"<td class=\"num\">{_mean_std(row[f'test_{m}_mean'], row[f'test_{m}_std'])}</td>"
        f"<td class=\"num\">{row['n_runs']}</td><td class=\"wrap\">{diagnosis_cell(row['variant'])}</td></tr>"
        for row in result.ranking)
    table = (f"<p>Ranked on the mean validation {escape(m)} over seeds (ties: lower validation loss). "
             "Test metrics are shown for information and never used to choose.</p>"
             f"<table><thead><tr><th>rank</th><th>variant</th><th>validation {escape(m)}</th>"
             f"<th>test {escape(m)}</th><th>runs</th><th>diagnosis</th></tr></thead><tbody>{rows}</tbody></table>")
    runs = "".join(
        f"<tr><td class=\"wrap settings\">{escape(r['variant'])}</td><td class=\"num\">{r['seed']}</td><td>{r['status']}</td>"
        f"<td class=\"num\">{_fmt(r['metrics'].get('valid', {}).get(m))}</td>"
        f"<td class=\"num\">{_fmt(r['metrics'].get('test', {}).get(m))}</td>"
        f"<td class=\"wrap\"><code>{escape(str(r['run_dir'] or '-'))}</code></td></tr>" for r in result.runs)
    runs_table = (f"<p>Each run is a normal run folder: rerun one with "
                  "<code>torchclassify train --config RUN/config.json</code>.</p>"
                  f"<table><thead><tr><th>variant</th><th>seed</th><th>status</th><th>validation {escape(m)}</th>"
                  f"<th>test {escape(m)}</th><th>run folder</th></tr></thead><tbody>{runs}</tbody></table>")
    curves = figure_html(figure, "validation curves", f"Validation loss and validation {m} per epoch: one colour "
                         "per variant, one line per seed.")
    return html_page("Comparison", [("Ranking", table), ("Training curves", curves), ("Runs", runs_table)])
