"""Settings left as None are chosen from the data here, once, and stored resolved in config.json.

Also the estimator's data-dependent choices: validation fraction, refit length, class weighting.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..config import TrainConfig
from ..data.prepared import LARGE_ENSEMBLE_ROWS

# The share of rows the estimator holds out from ES_MIN_ROWS rows: early stopping and the temperature are
# judged on them, and with no refit they never train (docs/quality.md, tenth round).
VALID_FRACTION = 0.1
# The data-chosen epochs lie within MIN_CHOSEN_EPOCHS..MAX_CHOSEN_EPOCHS (see resolve_train_config; ensembles keep the cap).
MIN_CHOSEN_EPOCHS, MAX_CHOSEN_EPOCHS = 50, 300
# Below this many training rows, with a validation split, batches are 64 rows (see resolve_train_config).
SMALL_BATCH_ROWS = 1_000
# Images (a small CNN, far more work per row than an MLP): batches and epochs that reached 0.99 on the
# digits folder in seconds (docs/images.md); the table budget of ~6000 steps would run for minutes.
IMAGE_BATCH, IMAGE_EPOCHS, IMAGE_PATIENCE = 32, 30, 10
# Below this many rows the estimator trains on every row for a fixed, data-chosen number of epochs.
ES_MIN_ROWS = 2_000
# From LARGE_ENSEMBLE_ROWS training rows an ensemble takes LARGE_MEMBER_BATCH rows a member a step at
# LARGE_MEMBER_LR times the rate (see large_ensemble_batch; the line also sets the members, data.prepared).
LARGE_MEMBER_BATCH, LARGE_MEMBER_LR = 256, 4


def resolve_train_config(config: TrainConfig, n_train: int, has_valid: bool, images: bool = False) -> TrainConfig:
    """Fill batch_size, epochs, patience and early_stopping from the training-set size.

    Batches of 64 rows for a small table with a validation split, else 256 (full batch below that) until
    the table is large, then larger batches so an epoch
    stays a few hundred steps. Epochs: enough for ~6000 optimisation steps, within 50..300: at lr 1e-3 with
    dropout this is a budget small tables reward (see docs/defaults.md); large ones stop early well before.
    Early stopping is on whenever there is a validation split, with patience a tenth of the epochs (>= 20)
    so that the noisy validation loss of a small table does not end a run that is still learning.
    images: the CNN's budget instead, IMAGE_BATCH rows a step for IMAGE_EPOCHS epochs, patience IMAGE_PATIENCE.
    """
    if images:
        config = replace(config, batch_size=IMAGE_BATCH if config.batch_size is None else config.batch_size,
                         epochs=config.epochs or IMAGE_EPOCHS, patience=config.patience or IMAGE_PATIENCE)
    batch_size = config.batch_size
    if batch_size is None and has_valid and n_train < SMALL_BATCH_ROWS:
        # With a validation split judging the run, a small table can take many small steps; without one
        # (the estimator's fixed budget) fewer, smoother full-batch steps measured better (docs/defaults.md).
        batch_size = 64
    elif batch_size is None:
        batch_size = int(min(2048, max(256, 2 ** round(math.log2(max(n_train, 1) / 200)))))
    effective = n_train if batch_size == 0 else min(batch_size, n_train)
    steps_per_epoch = max(1, math.ceil(n_train / max(effective, 1)))
    epochs = config.epochs
    if epochs is None:
        epochs = int(min(MAX_CHOSEN_EPOCHS, max(MIN_CHOSEN_EPOCHS, math.ceil(6000 / steps_per_epoch))))
    early_stopping = has_valid if config.early_stopping is None else (config.early_stopping and has_valid)
    patience = config.patience if config.patience is not None else int(max(20, epochs // 10))
    return replace(config, batch_size=batch_size, epochs=epochs, early_stopping=early_stopping, patience=patience)


def large_ensemble_batch(asked: TrainConfig, n_train: int, members: int) -> TrainConfig:
    """From LARGE_ENSEMBLE_ROWS training rows an ensemble of `members` networks takes batches of
    LARGE_MEMBER_BATCH rows a member (512 for the recipe's two members there) at LARGE_MEMBER_LR times the
    learning rate; `asked` as it is for one network, a smaller table, or a batch size the caller set (then the
    rate stays as set too).

    Why: a batch of 256 rows split among four members is 64 rows each, where a step's fixed per-call costs
    outweigh its arithmetic, and a large table pays them thousands of times a fit. Each member's step then
    averages 256 rows' gradients, four times the 64 the default rate suits (the linear scaling rule), so the
    rate is four times as high whatever the members: chosen on diamonds with four members (docs/quality.md,
    fifteenth round); with two, half that rate trained more slowly and less accurately (eighteenth round).
    The resolved batch and rate are stored in config.json: a resume trains with them, not scaled a second time.
    """
    if members <= 1 or n_train < LARGE_ENSEMBLE_ROWS or asked.batch_size is not None:
        return asked
    return replace(asked, batch_size=LARGE_MEMBER_BATCH * members, lr=asked.lr * LARGE_MEMBER_LR)


def choose_valid_size(n_rows: int) -> float:
    """The fraction of rows the estimator holds out for early stopping and calibration: VALID_FRACTION.

    Below ES_MIN_ROWS none: a few hundred validation rows judge too noisily, and every row is worth more
    as training data; such tables train for the data-chosen epochs instead (`resolve_train_config`).
    """
    return 0.0 if n_rows < ES_MIN_ROWS else VALID_FRACTION


def check_refit(refit) -> bool | str:
    """refit as True, False or "auto" (the estimator's default); anything else is a ValueError, not a guess."""
    if isinstance(refit, (bool, np.bool_)):
        return bool(refit)
    if isinstance(refit, str) and refit in ("auto", "none"):  # ("none": an older spelling of False)
        return False if refit == "none" else "auto"
    raise ValueError(f"refit must be True, False or 'auto', got {refit!r}")


def choose_refit(refit: bool | str, n_rows: int, best_epoch: int) -> int | None:
    """Epochs for a refit on every row after early stopping found `best_epoch`, or None for no refit.

    "auto": a refit only below ES_MIN_ROWS rows, where early stopping was asked for and holds out 20 % of a small
    table. From ES_MIN_ROWS the estimator holds out VALID_FRACTION and keeps the early-stopped network, whose
    temperature those rows fitted: as accurate as the refit on nine tables, in two thirds of the time
    (docs/quality.md, tenth round; the refit ran up to 20,000 rows before). True: always; False: never."""
    refit = check_refit(refit)
    if refit is False or (refit == "auto" and n_rows >= ES_MIN_ROWS):
        return None
    return max(1, best_epoch)


def choose_class_weight(y_codes: np.ndarray | None, max_ratio: float = 20.0) -> str:
    """"balanced" when the most common class outnumbers the rarest more than max_ratio to one, else "none".

    Weighting trades accuracy for recall on the rare class: on a 95/5 synthetic table it cost 9 points of
    accuracy (0.97 -> 0.88) for 7 of balanced accuracy, so moderate imbalance is left alone; beyond 20 to 1
    an unweighted network tends to ignore the rare class. Multilabel (None) is left unweighted.
    """
    if y_codes is None:
        return "none"
    counts = np.bincount(np.asarray(y_codes, dtype=np.int64))
    counts = counts[counts > 0]
    return "balanced" if counts.max() > max_ratio * counts.min() else "none"


# label_smoothing="auto": the smoothing of a fit whose temperature is fitted on held-out rows (the estimator's
# validation split or pilot); chosen on docs/quality.md's "Label smoothing where held-out rows calibrate".
AUTO_LABEL_SMOOTHING = 0.1


def choose_label_smoothing(setting: float | str, calibrated: bool) -> float:
    """label_smoothing="auto" -> AUTO_LABEL_SMOOTHING when held-out rows will calibrate the fit, else 0; a number
    stays.

    Smoothing pulls the training targets toward uniform, which measured as a regulariser (docs/quality.md); the
    probabilities are then too soft by design, and only a temperature fitted on held-out rows (allowed to
    sharpen) gives honest ones back. Where no such rows exist it is left off.
    """
    if isinstance(setting, str) or setting is None:
        if setting != "auto":
            raise ValueError(f"label_smoothing must be a number in [0, 1) or 'auto', got {setting!r}")
        return AUTO_LABEL_SMOOTHING if calibrated else 0.0
    return setting
