"""Eject: a run written out as one plain training script (torch, pandas and scikit-learn only), from a template.

`render_script` reads the run folder's config.json, model.json and metrics.json and fills
export/templates/train_again.py.jinja: the data and its split, the preprocessing recipe, the network, the loss, the
optimizer, the five-step loop and the evaluation. What the script does not reproduce simply (augmentation,
class weights, multilabel stratification, ...) is listed in its opening docstring.
"""

from __future__ import annotations

import pprint
import re
from pathlib import Path

from . import __version__
from .classifier import read_model_json
from .data.images import is_image_preprocessing
from .data.preprocess import Preprocessor
from .data.text import MAX_FEATURES, MIN_DF, NGRAMS
from .errors import ConfigError, ModelFileError
from .files import atomic_write
from .models import ACTIVATION_LAYERS
from .run_folder import read_metrics, read_run_settings
from .settings import IN_MEMORY_SOURCES

TEMPLATE = Path(__file__).parent / "export" / "templates" / "train_again.py.jinja"
SKLEARN_LOADERS = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer",
                   "digits": "load_digits"}
CUSTOM_CLASS = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
TOYS = ("circles", "moons", "blobs", "multilabel", "xor", "spirals")
LOSSES = {"binary": "nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy on the one logit",
          "multiclass": "nn.CrossEntropyLoss()  # softmax + cross-entropy over the classes",
          "multilabel": "nn.BCEWithLogitsLoss()  # a sigmoid and a binary cross-entropy per label"}
LABELS_DOC = {"binary": "0/1: the positive class when its probability reaches THRESHOLD",
              "multiclass": "the index of the most probable class",
              "multilabel": "(n, L) 0/1: each label whose probability reaches THRESHOLD"}


def write_script(run, path) -> Path:
    """Write the run `run` (a run folder) as a training script at `path`; returns the path."""
    return atomic_write(Path(path), render_script(run))


def render_script(run) -> str:
    """The training script of a run folder, as text. ModelFileError when the folder lacks its settings."""
    import jinja2

    run = Path(run)
    settings = read_run_settings(run)
    if settings is None:
        raise ModelFileError(f"{run} holds no config.json: a training script needs the run's settings - "
                             "give the --out folder of `torchclassify train`")
    raw = read_model_json(run)
    if is_image_preprocessing(raw["preprocessing"]):
        raise ConfigError("the training script is written for tables; a model trained on images is not supported "
                          "yet: export --format torch (network + preprocessing as JSON) instead")
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined, autoescape=False)
    environment.filters["py"] = repr
    environment.filters["plain"] = plain
    environment.filters["literal"] = literal
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(**script_context(run, settings, raw))


def plain(text) -> str:
    """Text the run folder supplies (its name, a column's reason, a note naming a setting) made safe inside the
    script's docstring or a comment: one line, with no quote or backslash that could end either. The run
    folder is untrusted input, and the script is meant to be run."""
    return " ".join(str(text).split()).replace("\\", "/").replace('"', "'")


def literal(value, indent: int = 0) -> str:
    """A Python literal that fits in 110 columns after `indent` characters: a long list wraps, its
    continuation lines aligned under the opening bracket."""
    text = pprint.pformat(value, width=110 - indent, compact=True, sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def script_context(run: Path, settings, raw: dict) -> dict:
    """What the template needs, from the run's settings (RunConfig) and its model.json (`raw`)."""
    data, model, train = settings.data, settings.model, settings.train
    pre = Preprocessor.from_dict(raw["preprocessing"])
    task = raw["task"]
    classes = list(raw["labels"]["classes"])
    metric = "f1_micro" if task == "multilabel" else "accuracy"
    test = read_metrics(run).get("test", {})
    context = {
        "run_name": run.name, "version": __version__, "task": task, "classes": classes, "seed": train.seed,
        "valid_size": data.valid_size, "test_size": data.test_size, "metric_name": metric.replace("_", " "),
        "run_metric": test.get(metric) if isinstance(test.get(metric), float) else None,
        "threshold": None if task == "multiclass" else raw["threshold"], "threshold_auto": train.threshold == "auto",
        "numeric": [c.name for c in pre.numeric], "categorical": pre.categorical_columns,
        "dates": {d.name: (None if d.format == "datetime" else d.format, d.start) for d in pre.dates},
        "text": [t.name for t in pre.text], "dropped": [f"{d.name!r}: {d.reason}" for d in pre.dropped],
        "number_columns": " + ".join((["NUMERIC"] if pre.numeric else []) + (["date_parts"] if pre.dates else [])),
        "max_categories": pre.max_categories, "text_max_features": MAX_FEATURES, "text_min_df": MIN_DF,
        "text_ngrams": NGRAMS, "stratify": task != "multilabel", "n_outputs": raw["n_outputs"],
        "labels_doc": LABELS_DOC[task], "loss": LOSSES[task], "norm": model.norm,
        "epochs": train.epochs, "patience": train.patience, "early_stopping": bool(train.early_stopping),
        "clip_grad_norm": train.clip_grad_norm,
        "batch_size": "len(X_train)  # the whole training split" if not train.batch_size else train.batch_size,
        "optimizer": optimizer_line(train),
        **scheduler_lines(train),
        **source_context(data, classes, task),
        **network_context(model),
    }
    context["notes"] = notes(settings, raw, task)
    return context


def source_context(data, classes: list, task: str) -> dict:
    """Where the rows come from: a file (read with pandas) or a built-in dataset (generated again)."""
    source = data.source
    context = {"source": source, "n_samples": data.n_samples, "noise": data.noise, "mapped_labels": False,
               "target": data.target if data.target and task != "multilabel" else "target"}
    if source in TOYS:
        return {**context, "source_kind": "builtin"}
    if source in SKLEARN_LOADERS:
        # Named classes (iris's setosa, ...) come from target_names; digits keeps its numbers.
        return {**context, "source_kind": "builtin", "loader": SKLEARN_LOADERS[source],
                "mapped_labels": source != "digits"}
    if source in IN_MEMORY_SOURCES:  # nothing to read again: the user saves the table the run trained on
        return {**context, "source_kind": "file", "source": "rows.csv", "reader": "pd.read_csv(DATA)"}
    if Path(source).exists():  # as the run read it, from wherever the script runs
        context["source"] = str(Path(source).resolve())
    suffix = Path(source).suffix.lower()
    reader = {".parquet": "pd.read_parquet(DATA)", ".pq": "pd.read_parquet(DATA)",
              ".tsv": 'pd.read_csv(DATA, sep="\\t")'}.get(suffix, "pd.read_csv(DATA)")
    return {**context, "source_kind": "file", "reader": reader}


def optimizer_line(train) -> str:
    kw = f"lr={train.lr!r}, weight_decay={train.weight_decay!r}"
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}[train.optimizer]
    momentum = f", momentum={train.momentum!r}" if train.optimizer in ("sgd", "rmsprop") else ""
    return f"torch.optim.{name}(model.parameters(), {kw}{momentum})"


def scheduler_lines(train) -> dict:
    """The LR schedule as engine/optim.make_scheduler builds it, and when it steps."""
    epochs = train.epochs
    lines = {
        "none": (None, None),
        "step": (f"torch.optim.lr_scheduler.StepLR(optimizer, step_size={max(1, epochs // 3)}, gamma=0.1)", "epoch"),
        "cosine": (f"torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max={epochs})", "epoch"),
        "onecycle": (f"torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr={train.lr!r}, "
                     f"total_steps={epochs} * steps_per_epoch)", "batch"),
        "plateau": ("torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.3, patience="
                    f"{max(2, (train.patience or 10) // 3)})", "plateau"),
    }
    scheduler, every = lines[train.schedule]
    return {"scheduler": scheduler, "scheduler_every": every}


def network_context(model) -> dict:
    """The nn.Sequential of models.MLP, one layer a line; or the import of the user's own class."""
    if model.custom:
        if not CUSTOM_CLASS.fullmatch(model.custom):  # it becomes an import line of the script
            raise ModelFileError(f"config.json names the model class {model.custom!r}, which is not "
                                 "package.module:ClassName - the run folder was altered")
        module, _, name = model.custom.partition(":")
        return {"custom": True, "custom_module": module, "custom_class": name, "layers": [], "network_doc": ""}
    layers, width = [], "n_features"
    activation = f"nn.{ACTIVATION_LAYERS[model.activation].__name__}()"
    for size in model.hidden:
        layers.append(f"nn.Linear({width}, {size})")
        if model.norm == "batch":
            layers.append(f"nn.BatchNorm1d({size})")
        elif model.norm == "layer":
            layers.append(f"nn.LayerNorm({size})")
        layers.append(activation)
        if model.dropout > 0:
            layers.append(f"nn.Dropout({model.dropout!r})")
        width = str(size)
    layers.append(f"nn.Linear({width}, n_outputs)")
    shape = " -> ".join(["n_features", *map(str, model.hidden), "n_outputs"])
    doc = (f"The run's MLP: {shape}." if model.hidden else "A linear model: one Linear layer (logistic / "
           "softmax regression).")
    return {"custom": False, "layers": layers, "network_doc": doc}


def notes(settings, raw: dict, task: str) -> list[str]:
    """What the script leaves out or does differently, one sentence each (empty for a plain run)."""
    data, train = settings.data, settings.train
    found = []
    if task == "multilabel":
        found.append("the split: the run stratified the labels iteratively (each label's share alike in every "
                     "part); this script splits at random")
    if data.source in IN_MEMORY_SOURCES:
        found.append("the rows: the run trained on a DataFrame in memory; save it as rows.csv (frame.to_csv("
                     "'rows.csv', index=False)) beside this script, or set DATA")
    if data.augment != "none":
        found.append(f"--augment {data.augment}: training batches are used as they are")
    if train.class_weight != "none":
        found.append(f"--class-weight {train.class_weight}: the loss weighs every row alike")
    if train.amp != "none" or train.compile or train.device not in ("auto", "cpu"):
        found.append("mixed precision, torch.compile and devices: this script trains in float32 on the CPU")
    if data.stream:
        found.append("--stream: this script reads the whole file into memory")
    for column in raw["preprocessing"].get("text_numbers", []):
        found.append(f"column {column['name']!r} was text the run read as numbers ($, % and thousands separators "
                     "removed); this script reads only plain numbers in it, the rest as missing")
    if settings.model.recipe == "tabular":
        found.append("the tabular recipe: the run put periodic embeddings and a learned per-input scale in front "
                     "of the MLP and temperature-scaled its probabilities; this script trains the plain MLP of the "
                     "same widths")
    if (settings.model.members or 1) > 1:
        found.append(f"--members {settings.model.members}: the run averaged {settings.model.members} networks, each "
                     "taught by its own share of every batch; this script trains one")
    if settings.model.piecewise:
        found.append(f"--piecewise {settings.model.piecewise}: that many of the run's networks also read each number "
                     "in quantile bins; this script's network reads the numbers as they are")
    if data.numeric_scaling != "standard":
        found.append(f"--numeric-scaling {data.numeric_scaling}: numbers are standardised")
    if train.label_smoothing:
        found.append(f"--label-smoothing {train.label_smoothing}: the targets are used as they are")
    if train.optimizer in ("adam", "adamw") and train.beta2 != 0.999:
        found.append(f"--beta2 {train.beta2}: the optimizer keeps torch's default betas")
    if raw["preprocessing"].get("categorical"):
        found.append("categories: scikit-learn's OneHotEncoder groups rare and unseen values as the run did, "
                     "but breaks ties between equally frequent values its own way")
    if data.source not in TOYS and data.source not in SKLEARN_LOADERS and data.source.lower().endswith(".csv"):
        found.append("reading: pandas' read_csv, where the run sniffed the delimiter and read every column's type "
                     "from all rows")
    if any(c.get("indicator") for c in raw["preprocessing"].get("numeric", [])):
        found.append("the 0/1 missing-value columns are standardised like the numbers (the run left them 0/1)")
    logged = [c["name"] for c in raw["preprocessing"].get("numeric", []) if c.get("log_scale")]
    if logged:
        shown = ", ".join(logged[:3]) + (", ..." if len(logged) > 3 else "")
        found.append(f"--log-skewed: the run read {len(logged)} skewed column(s) ({shown}) as log(1 + x / s) before "
                     "scaling; this script standardises them as they are")
    return found
