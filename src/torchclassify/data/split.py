"""Train / validation / test splits: seeded and stratified, on single labels (drawn as scikit-learn's
`train_test_split` draws them, in numpy) and on several 0/1 labels (iterative stratification), so rare classes
and rare labels reach every split."""

from __future__ import annotations

import contextlib
import contextvars
import warnings

import numpy as np
import pandas as pd

from ..config import RunConfig
from ..errors import ConfigError, DataError
from ..tasks import detect_task
from .labels import LabelEncoding, check_looks_like_classes

# What the caller calls class code i, where its targets are codes (the estimator encodes its classes_ first),
# so that a warning names the user's label, not its index.
_SHOWN_NAMES: contextvars.ContextVar[list | None] = contextvars.ContextVar("shown_class_names", default=None)


@contextlib.contextmanager
def class_names_shown(names: list | None):
    """Within the block, split warnings name class code i as names[i] (None: as the labels say)."""
    token = _SHOWN_NAMES.set(None if names is None else list(names))
    try:
        yield
    finally:
        _SHOWN_NAMES.reset(token)


def split_indices(n_samples: int, y_codes: np.ndarray | None, valid_size: float, test_size: float,
                  seed: int, class_names: list | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices for train, validation and test.

    y_codes: (n,) class indices to stratify on, (n, L) 0/1 labels (iterative stratification), or None for a
    plain shuffle. valid_size, test_size: fractions of all rows; 0 gives an empty split.
    Single labels: stratification is dropped, with a warning naming the classes, when a class is too rare to
    appear in every split.
    """
    indices = np.arange(n_samples)
    n_test = int(round(n_samples * test_size))
    n_valid = int(round(n_samples * valid_size))
    if test_size > 0:
        n_test = max(n_test, 1)
    if valid_size > 0:
        n_valid = max(n_valid, 1)
    if n_samples - n_test - n_valid < 2:
        raise DataError(f"only {n_samples} row(s): too few to split into train/validation/test - "
                        "add rows or use --valid-size 0 --test-size 0")

    def cut(idx, size, seed_offset):
        if size == 0:
            return idx, idx[:0]
        if y_codes is not None and y_codes.ndim == 2:
            return iterative_cut(idx, y_codes[idx], size, seed + seed_offset)
        strat = y_codes[idx] if y_codes is not None else None
        if strat is not None:
            _, counts = np.unique(strat, return_counts=True)
            n_classes = len(counts)
            if counts.min() < 2 or size < n_classes or len(idx) - size < n_classes:
                warnings.warn(_rare_classes(strat, class_names), stacklevel=3)
                strat = None
        rng = np.random.RandomState(seed + seed_offset)
        return shuffled_cut(idx, size, rng) if strat is None else stratified_cut(idx, strat, size, rng)

    rest, test = cut(indices, n_test, 0)  # (a stratified cut keeps each class's share in both parts)
    train, valid = cut(rest, n_valid, 1)
    return np.sort(train), np.sort(valid), np.sort(test)


def shuffled_cut(idx: np.ndarray, size: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """(rest, part of `size` rows) of the rows `idx`, at random; as train_test_split(idx, test_size=size)."""
    order = rng.permutation(len(idx))
    return idx[order[size:]], idx[order[:size]]


def _share_out(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `n_draws` rows each class gives, (K,) int: its share of the rows rounded down, then one
    more for the classes with the largest remainders (ties broken at random) until the total is n_draws."""
    exact = counts / counts.sum() * n_draws
    taken = np.floor(exact)
    missing = int(n_draws - taken.sum())
    remainder = exact - taken
    for value in np.unique(remainder)[::-1]:
        if missing <= 0:
            break
        tied = np.flatnonzero(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        taken[chosen] += 1
        missing -= len(chosen)
    return taken.astype(np.int64)


def stratified_cut(idx: np.ndarray, strat: np.ndarray, size: int,
                   rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """(rest, part of `size` rows) of the rows `idx`, each class keeping its share in both parts.

    strat: (len(idx),) class of each row; every class has 2+ rows and both parts room for every class (the
    caller checks). The same draws, in the same order, as scikit-learn's stratified train_test_split, so
    a seed gives the split it gave before this was numpy: each part's count per class by `_share_out`, then
    one shuffle of each class's rows (in their order in `idx`) and one of each part.
    """
    _, codes, counts = np.unique(strat, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    n_rest = _share_out(counts, len(idx) - size, rng)
    n_part = _share_out(counts - n_rest, size, rng)
    rest, part = [], []
    for members, k_rest, k_part in zip(by_class, n_rest, n_part):
        members = members[rng.permutation(len(members))]
        rest.append(members[:k_rest])
        part.append(members[k_rest:k_rest + k_part])
    rest_order = rng.permutation(np.concatenate(rest))
    return idx[rest_order], idx[rng.permutation(np.concatenate(part))]


def iterative_cut(idx: np.ndarray, Y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, part of `size` rows) of the rows `idx`, keeping each label's share alike in both parts.

    Y: (len(idx), L) 0/1 labels of those rows. Iterative stratification (Sechidis, Tsoumakas and Vlahavas,
    2011): the label with the fewest rows still to place goes first, and each of its rows joins the part
    that most lacks that label (then the part that lacks most rows; then a seeded coin), so a rare label is
    spread before common ones fill the parts. Rows without any label fill what the parts lack at the end.
    """
    rng = np.random.default_rng(seed)
    Y = np.asarray(Y) > 0.5
    n = len(idx)
    want_rows = np.array([n - size, size], dtype=np.float64)
    want_label = np.outer([(n - size) / n, size / n], Y.sum(axis=0)).astype(np.float64)  # (2, L)
    part = np.full(n, -1)
    remaining = Y.copy()
    while remaining.any():
        counts = remaining.sum(axis=0).astype(np.float64)
        counts[counts == 0] = np.inf
        label = int(np.argmin(counts))
        for row in rng.permutation(np.flatnonzero(remaining[:, label])):
            scores = np.lexsort((rng.random(2), want_rows, want_label[:, label]))  # ascending; last is best
            chosen = int(scores[-1])
            part[row] = chosen
            want_label[chosen] -= Y[row]
            want_rows[chosen] -= 1
            remaining[row] = False
    for row in rng.permutation(np.flatnonzero(part < 0)):
        chosen = int(np.argmax(want_rows + rng.random(2) * 1e-9))
        part[row] = chosen
        want_rows[chosen] -= 1
    return idx[part == 0], idx[part == 1]


def _rare_classes(codes: np.ndarray, class_names: list | None) -> str:
    """The warning for a split that cannot be stratified, naming the classes too small for it."""
    values, counts = np.unique(codes, return_counts=True)
    names = class_names if _SHOWN_NAMES.get() is None else _SHOWN_NAMES.get()  # (class_names: the codes then)
    rare = [(names[v] if names is not None else v, c) for v, c in zip(values, counts) if c < 3]
    if not rare:
        return "the split sizes leave too few rows to stratify the split; splitting without stratification"
    shown = ", ".join(f"{name!r} ({count} row{'s' if count > 1 else ''})" for name, count in rare[:5])
    return (f"class {shown} {'is' if len(rare) == 1 else 'are'} too rare to appear in train, validation and test, "
            "so the split is not stratified: add rows of it, drop those rows, or merge it with another class")


def split_targets(y: pd.DataFrame, config: RunConfig):
    """Labels, task, encoded targets and the seeded (stratified) split, from the targets alone.

    y: (n, n_targets) raw targets of every row. Returns (task name, LabelEncoding, codes (n,) or (n, L),
    {"train", "valid", "test": sorted row indices}); in-memory and streamed runs share it, so they split alike.
    Binary: the positive class (code 1) is config.data.positive, else the yes of a yes/no pair, else the
    minority class of the training split (LabelEncoding.positive_reason says which).
    """
    check_looks_like_classes(y, config.data.task)
    labels = LabelEncoding.fit(y)
    task_name = detect_task(y.shape[1], labels.n_classes, config.data.task)
    codes = labels.encode(y)
    train_idx, valid_idx, test_idx = split_indices(len(codes), codes, config.data.valid_size,
                                                   config.data.test_size, config.train.seed, labels.classes)
    if not labels.multilabel and len(np.unique(codes[train_idx])) < 2:
        raise DataError("the training split holds a single class: add rows of the other classes")
    if config.data.positive is not None and task_name != "binary":
        raise ConfigError(f"--positive applies to binary targets, and this one is {task_name} "
                          f"({labels.n_classes} {'labels' if labels.multilabel else 'classes'})")
    if task_name == "binary":
        labels, codes = choose_positive(labels, codes, train_idx, config.data.positive)
    return task_name, labels, codes, {"train": train_idx, "valid": valid_idx, "test": test_idx}


def choose_positive(labels: LabelEncoding, codes: np.ndarray, train_idx: np.ndarray, positive=None):
    """(LabelEncoding with the positive class second, codes) for a binary target.

    positive: the user's choice (ConfigError when it is not a class); None: the yes of a yes/no pair (1, True,
    yes: yes_of_pair), else the class with fewer training rows, so that precision and recall describe the class
    people usually care about (ties keep the sorted order).
    """
    if positive is not None:
        index = labels.index_of(positive)
        if index is None:
            raise ConfigError(f"--positive {positive!r} is not a class of the target: the classes are "
                              f"{', '.join(map(repr, labels.classes))}")
        labels, codes = labels.with_positive(codes, index)
        labels.positive_reason = "chosen with --positive"
        return labels, codes
    marked = yes_of_pair(labels.classes)
    if marked is not None:
        labels, codes = labels.with_positive(codes, marked)
        labels.positive_reason = (f"the yes of the no/yes pair {labels.classes[0]!r}/{labels.classes[1]!r} "
                                  "(choose with --positive)")
        return labels, codes
    counts = np.bincount(codes[train_idx], minlength=2)
    index = 0 if counts[0] < counts[1] else 1
    labels, codes = labels.with_positive(codes, index)
    labels.positive_reason = ("the minority class" if counts.min() < counts.max()
                              else "the classes are balanced: the second in sorted order") + \
        " (choose with --positive)"
    return labels, codes


YES, NO = {"1", "true", "t", "yes", "y", "positive", "pos"}, {"0", "-1", "false", "f", "no", "n", "negative", "neg"}


def yes_of_pair(classes: list) -> int | None:
    """The index of the "yes" class when the two classes read as no and yes (0/1, -1/1, False/True, no/yes,
    n/y, negative/positive, in any case); None otherwise. Why: that is the class such a column marks (1 = churned,
    True = fraud), whichever is rarer; scikit-learn's metrics take 1 and True as positive too."""
    alike = {"1.0": "1", "0.0": "0", "-1.0": "-1"}  # (1 and 1.0 alike)
    words = [alike.get(w, w) for w in (str(c).strip().lower() for c in classes)]
    if len(words) == 2 and words[0] in YES and words[1] in NO:
        return 0
    if len(words) == 2 and words[0] in NO and words[1] in YES:
        return 1
    return None
