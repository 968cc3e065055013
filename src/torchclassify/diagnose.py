"""Diagnosis: a few plain sentences about a finished run, each said only when its history supports it.

Four rules, each a small function over the per-epoch history (a list of dicts as `fit` records them):
stuck at chance, train far above validation, diverging loss, still improving at the last epoch.
A healthy run gets an empty list. Nothing here imports torch.
"""

from __future__ import annotations

import math
from typing import Any

GAP = 0.10  # train minus validation main metric that counts as "far above"
IMPROVING = 0.05  # relative fall of the loss over the last tenth of the epochs that counts as "still improving"


def diagnose(history: list[dict[str, Any]], config, summary: dict[str, Any], metrics: dict | None = None) -> list[str]:
    """Sentences for a finished run; [] when nothing stands out.

    history: fit's per-epoch records (train_loss, train_<metric>, valid_loss, valid_<metric>).
    config: the run's RunConfig (the model shape and settings the advice refers to).
    summary: Run.summary (task, class_counts, stop_reason, epochs_run).
    metrics: the final metrics by split: ranking and balanced metrics there overrule raw accuracy, so a
    model that ranks the rare class well is never called "at chance" on an imbalanced table.
    """
    if not history:
        return []
    metric = _main_metric(history)
    diverged = _diverging(history, config)
    if diverged:  # the other rules read a broken curve wrongly
        return [diverged]
    found = [_stuck_at_chance(history, config, summary, metric, metrics or {}),
             _overfitting(history, summary, metric),
             _still_improving(history, summary, metric)]
    return [sentence for sentence in found if sentence]


def diagnose_error(message: str, config=None) -> list[str]:
    """Sentences for a run that `fit` stopped with a TrainingError (a NaN or infinite loss)."""
    if "loss became" not in message:
        return []
    lr = f" ({config.train.lr:g})" if config is not None else ""
    return [f"The loss became NaN or infinite: training diverged, so lower the learning rate{lr} by 3-10x "
            "(`torchclassify lr-find` suggests one) or add --clip-grad-norm 1.0."]


def _main_metric(history: list[dict]) -> str:
    """The main metric's name, read from the `train_<metric>` key fit writes (e.g. accuracy, f1_micro)."""
    names = [k[len("train_"):] for k in history[0] if k.startswith("train_") and k != "train_loss"]
    return names[0] if names else "accuracy"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2 if n else math.nan


def _series(history: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in history if key in r and r[key] is not None]


def _chance(summary: dict) -> float | None:
    """Accuracy of always predicting the most frequent training class; None where accuracy is not the metric."""
    counts = summary.get("class_counts") or {}
    if summary.get("task") not in ("binary", "multiclass") or not counts or sum(counts.values()) == 0:
        return None
    return max(counts.values()) / sum(counts.values())


def _learned_something(metrics: dict, n_classes: int) -> bool:
    """Whether the held-out metrics show skill beyond chance: ROC-AUC >= 0.6, or balanced accuracy clearly
    above 1/n_classes. Raw accuracy is no judge: always predicting the majority of a 9:1 table scores 0.9."""
    split = metrics.get("valid") or metrics.get("test") or {}
    auc = split.get("roc_auc", split.get("roc_auc_ovr"))
    balanced = split.get("balanced_accuracy")
    return (auc is not None and auc >= 0.6) or (balanced is not None and balanced > 1 / n_classes + 0.1)


def _stuck_at_chance(history: list[dict], config, summary: dict, metric: str, metrics: dict) -> str | None:
    chance = _chance(summary)
    if chance is None or metric != "accuracy":
        return None
    if _learned_something(metrics, len(summary.get("class_counts") or {}) or 2):
        return None
    # The typical value over the last ten epochs: one lucky or unlucky epoch neither makes nor breaks "stuck".
    margin = max(0.08, 0.15 * (1 - chance))
    recent_train = _median(_series(history, "train_accuracy")[-10:])
    recent_valid = _median(_series(history, "valid_accuracy")[-10:]) if "valid_accuracy" in history[0] else None
    if recent_train > chance + margin or (recent_valid is not None and recent_valid > chance + margin):
        return None
    where = (f"validation accuracy {recent_valid:.2f}" if recent_valid is not None else
             f"training accuracy {recent_train:.2f}") + " over the last epochs"
    linear = not config.model.custom and not config.model.hidden
    if linear:
        return (f"The linear model (no hidden layers) stayed at chance level ({where}; always predicting the "
                f"most frequent class gives {chance:.2f}): a straight decision boundary cannot separate these "
                "classes, so add a non-linearity and capacity, e.g. --hidden 16,16 --activation relu.")
    return (f"The model stayed at chance level ({where}; always predicting the most frequent class gives "
            f"{chance:.2f}): try another learning rate (`torchclassify lr-find`), more capacity (--hidden), "
            "or check that the features carry information about the target.")


def _overfitting(history: list[dict], summary: dict, metric: str) -> str | None:
    train, valid = f"train_{metric}", f"valid_{metric}"
    # Judge the weights the run kept: early stopping restores its best epoch, later epochs are history.
    kept = summary.get("best_epoch") if summary.get("early_stopping") else None
    last = next((r for r in history if r["epoch"] == kept), history[-1])
    if valid not in last or train not in last:
        return None
    gap = last[train] - last[valid]
    if gap < GAP:
        return None
    return (f"Training {metric} ({last[train]:.2f}) is far above validation ({last[valid]:.2f}) at epoch "
            f"{last['epoch']}: the model memorises the training rows, so regularise (--dropout 0.2, "
            "--weight-decay 1e-3, --augment noise, smaller --hidden) or stop earlier (--early-stopping, "
            "lower --patience).")


def _diverging(history: list[dict], config) -> str | None:
    losses = _series(history, "train_loss")
    lr = f" ({config.train.lr:g})" if config is not None else ""
    if any(not math.isfinite(x) for x in losses):
        return (f"The loss became NaN or infinite: training diverged, so lower the learning rate{lr} by 3-10x "
                "(`torchclassify lr-find` suggests one) or add --clip-grad-norm 1.0.")
    if len(losses) < 3:
        return None
    first, low, final = losses[0], min(losses), losses[-1]
    # Worse than at the start and far above its own best: the steps overshoot instead of descending.
    if final > 1.2 * first and final > 2 * low:
        return (f"The training loss diverged (from {first:.3g} at epoch 1 down to {low:.3g}, then up to {final:.3g} "
                f"at the last epoch): lower the learning rate{lr} by 3-10x (`torchclassify lr-find` suggests "
                "one) or add --clip-grad-norm 1.0.")
    return None


def _still_improving(history: list[dict], summary: dict, metric: str) -> str | None:
    if summary.get("stop_reason"):  # early stopping ended it: it had stopped improving
        return None
    if history[-1].get(f"valid_{metric}", 0.0) >= 1.0:  # nothing left to gain on the metric
        return None
    key = "valid_loss" if "valid_loss" in history[0] else "train_loss"
    losses = _series(history, key)
    n = len(losses)
    window = max(2, n // 10)
    if n < window + 2:
        return None
    before, recent = min(losses[:-window]), losses[-window:]
    best_recent = min(recent)
    # Clearly lower than anything before the window, and the last epoch is still near the window's best.
    if not (best_recent < before * (1 - IMPROVING) and recent[-1] <= best_recent * (1 + IMPROVING)):
        return None
    which = "validation" if key == "valid_loss" else "training"
    return (f"The {which} loss was still falling at the last epoch ({before:.3g} -> {best_recent:.3g} over the last "
            f"{window} of {n} epochs): train longer, e.g. --epochs {2 * n}.")
