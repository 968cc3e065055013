"""Why a trained classifier predicts what it does, on held-out raw rows: the rows it gets most wrong, the
classes it confuses, how much each raw column matters (permutation importance) and which columns (and, in a
text column, which words) pushed one row's prediction (Shapley values, Captum)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .classifier import TrainedClassifier
from .errors import ConfigError, DataError

# Probabilities are clipped here before the log: float32 probabilities reach exactly 0 or 1 (a logit past
# ~17), and one such row would make the mean loss infinite. A row's loss is at most -log(EPS) ~ 16.1.
EPS = 1e-7


def scores(classifier: TrainedClassifier, X, y, encoded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_proba) of raw rows, one forward pass: (n,) int64 or (n, L) 0/1 targets; binary (n,)
    P(positive), otherwise (n, C) / (n, L) probabilities (float64). The pictures' plots.scores calls this.
    encoded: y already encoded (classifier.encode_targets), for a caller scoring the same rows many times."""
    y_true = classifier.encode_targets(y) if encoded is None else encoded
    return y_true, classifier.predict_proba_tensor(X).numpy().astype(np.float64)


def losses_from_scores(y_true: np.ndarray, y_proba: np.ndarray) -> np.ndarray:
    """(n,) the loss each row alone contributes, unweighted, as the tasks train: binary cross-entropy
    (binary (n,) probabilities; multilabel (n, L): mean over labels), else cross-entropy of the true class."""
    p = np.clip(y_proba, EPS, 1 - EPS)
    if y_proba.ndim == 1 or y_true.ndim == 2:  # one probability per output: binary, multilabel
        loss = -(y_true * np.log(p) + (1 - y_true) * np.log1p(-p))
        return loss.reshape(len(loss), -1).mean(axis=1)  # (n, L) -> (n,); binary unchanged
    return -np.log(p[np.arange(len(p)), y_true])


def row_losses(classifier: TrainedClassifier, X, y, predicted: tuple | None = None):
    """(y_true, y_proba, loss) of raw rows (see scores and losses_from_scores); predicted: their
    (y_true, y_proba) when already computed, so the model does not run again."""
    y_true, y_proba = scores(classifier, X, y) if predicted is None else predicted
    return y_true, y_proba, losses_from_scores(y_true, y_proba)


def mean_loss(classifier: TrainedClassifier, X, y, encoded: np.ndarray | None = None) -> float:
    """The mean per-row loss of raw rows (what permutation importance watches rise); encoded as for scores."""
    return float(losses_from_scores(*scores(classifier, X, y, encoded)).mean())


MAX_ROWS = 10_000  # rows permutation importance shuffles and explain_row's background averages, at most


def sample_rows(X: pd.DataFrame, y=None, max_rows: int | None = MAX_ROWS, seed: int = 0):
    """(X, y) or, when X has more than max_rows rows, a seeded sample of max_rows of them (in their order)."""
    if max_rows is None or len(X) <= max_rows:
        return X, y
    pick = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
    return X.iloc[pick], (None if y is None else y.iloc[pick] if hasattr(y, "iloc") else np.asarray(y)[pick])


def _shuffled_losses(classifier: TrainedClassifier, X: pd.DataFrame, encoded: np.ndarray, n_repeats: int,
                     seed: int) -> np.ndarray:
    """(n_columns, n_repeats) mean loss with one raw column shuffled. The shuffles are those scikit-learn's
    permutation_importance draws (one seed for every column; each repeat reshuffles the column as it is),
    so the figures are what they were, without importing scikit-learn and scipy into every run.

    A table's preprocessing reads each raw column on its own, a row at a time, so shuffling a raw column is
    shuffling the rows of its block of preprocessed features (feature_groups): the rows are preprocessed once,
    not once per column and repeat (a 2,000-column report spent minutes there)."""
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    losses = np.empty((X.shape[1], n_repeats))
    features = _features_of_columns(classifier, X)
    for j, name in enumerate(X.columns):
        rng, order = np.random.RandomState(column_seed), np.arange(len(X))
        if features is None:  # (a preprocessing not known to be column by column: shuffle the raw rows)
            shuffled = X.copy()
        else:
            shuffled, block = features[0].clone(), features[1][j]
        for repeat in range(n_repeats):
            rng.shuffle(order)
            if features is None:
                column = shuffled[name].iloc[order]
                column.index = shuffled.index
                shuffled[name] = column
                losses[j, repeat] = mean_loss(classifier, shuffled, None, encoded)
            else:
                shuffled[:, block] = shuffled[:, block][torch.as_tensor(order, device=shuffled.device)]
                losses[j, repeat] = _features_loss(classifier, shuffled, encoded)
    return losses


def _features_of_columns(classifier: TrainedClassifier, X: pd.DataFrame):
    """(the rows preprocessed (n, n_inputs), each raw column's feature indices) for a table's preprocessing,
    whose features come column by column in feature_columns' order; None for any other (images)."""
    pre = classifier.preprocessor
    if not all(hasattr(pre, kind) for kind in ("numeric", "dates", "categorical", "text")):
        return None
    features = classifier.transform(X)
    groups = feature_groups(classifier)
    if len(groups) != features.shape[1] or list(X.columns) != classifier.feature_columns:
        return None
    where = torch.as_tensor(groups, device=features.device)
    return features, [torch.nonzero(where == j).flatten() for j in range(X.shape[1])]


def _features_loss(classifier: TrainedClassifier, features: torch.Tensor, encoded: np.ndarray) -> float:
    """mean_loss of rows already preprocessed."""
    y_proba = classifier.proba_of_features(features).numpy().astype(np.float64)
    return float(losses_from_scores(encoded, y_proba).mean())


def top_losses(classifier: TrainedClassifier, X: pd.DataFrame, y, n: int = 10,
               predicted: tuple | None = None) -> pd.DataFrame:
    """The n rows with the highest loss: their raw values, truth, prediction, its probability and the loss.

    X: raw rows (their index names the rows, e.g. positions in the source file); y: raw targets;
    predicted: (y_true, y_proba) of these rows if already computed (see scores).
    Returns a DataFrame indexed like X, highest loss first.
    """
    X = classifier._frame(X)
    y_true, y_proba, loss = row_losses(classifier, X, y, predicted)
    order = np.argsort(-loss, kind="stable")[:n]
    y_pred = classifier.task.to_labels(torch.as_tensor(y_proba), classifier.threshold_tensor()).numpy()
    out = X.iloc[order][classifier.feature_columns].copy()
    if classifier.labels.multilabel:
        names = np.asarray(classifier.classes, dtype=object)
        out["truth"] = ["|".join(names[row == 1]) for row in y_true[order]]
        out["predicted"] = ["|".join(names[row == 1]) for row in y_pred[order]]
        out["probability"] = [float(np.max(p)) for p in y_proba[order]]  # the most confident label's
    else:
        proba = np.column_stack([1 - y_proba, y_proba]) if y_proba.ndim == 1 else y_proba  # (n, C)
        out["truth"] = classifier.labels.decode(y_true[order])
        out["predicted"] = classifier.labels.decode(y_pred[order])
        out["probability"] = proba[order, y_pred[order]]  # of the predicted class
        out["p_truth"] = proba[order, y_true[order]]
    out["loss"] = loss[order]
    return out


def confused_pairs(classifier: TrainedClassifier, X, y, n: int = 5, predicted: tuple | None = None) -> pd.DataFrame:
    """The most frequent mistakes: (truth, predicted, count, share of truth's rows), most frequent first.

    Multilabel: each label's misses (truth=label, predicted="(not)") and false alarms (truth="(not)").
    """
    y_true, y_proba = scores(classifier, X, y) if predicted is None else predicted
    y_pred = classifier.task.to_labels(torch.as_tensor(y_proba), classifier.threshold_tensor()).numpy()
    classes = [str(c) for c in classifier.classes]
    rows = []
    if classifier.labels.multilabel:
        for k, name in enumerate(classes):
            positives, negatives = int((y_true[:, k] == 1).sum()), int((y_true[:, k] == 0).sum())
            missed = int(((y_true[:, k] == 1) & (y_pred[:, k] == 0)).sum())
            false = int(((y_true[:, k] == 0) & (y_pred[:, k] == 1)).sum())
            rows += [(name, "(not)", missed, missed / max(positives, 1)),
                     ("(not)", name, false, false / max(negatives, 1))]
    else:
        counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
        np.add.at(counts, (y_true, y_pred), 1)
        support = counts.sum(axis=1)
        rows = [(classes[i], classes[j], int(counts[i, j]), counts[i, j] / max(support[i], 1))
                for i, j in zip(*np.nonzero(counts)) if i != j]
    frame = pd.DataFrame(rows, columns=["truth", "predicted", "count", "share"])
    frame = frame[frame["count"] > 0].sort_values(["count", "share"], ascending=False, kind="stable")
    return frame.head(n).reset_index(drop=True)


def permutation_importance(classifier: TrainedClassifier, X: pd.DataFrame, y, n_repeats: int = 5,
                           seed: int = 0, max_rows: int | None = MAX_ROWS) -> pd.DataFrame:
    """How much the mean loss rises when one raw column's values are shuffled across the rows.

    Raw columns, not their one-hot or TF-IDF pieces (the classifier preprocesses each shuffled copy itself;
    scikit-learn's permutation_importance gives the same numbers, tests/test_sklearn_twins.py). Returns
    columns importance (mean rise), std (over the n_repeats shuffles) and n_rows (those shuffled: a seeded
    sample of at most max_rows, None for all; each shuffle costs a forward pass over them), most important
    first. A column the model ignores scores ~0; a negative score is noise.
    """
    X, y = sample_rows(classifier._frame(X)[classifier.feature_columns], y, max_rows, seed)
    X = X.reset_index(drop=True)
    y = y.reset_index(drop=True) if isinstance(y, (pd.Series, pd.DataFrame)) else y
    if len(X) < 2:
        raise DataError(f"permutation importance needs at least 2 rows, got {len(X)}")
    encoded = classifier.encode_targets(y)  # once: every shuffle scores the same rows' targets
    rises = _shuffled_losses(classifier, X, encoded, n_repeats, seed) - mean_loss(classifier, X, None, encoded)
    frame = pd.DataFrame({"column": X.columns, "importance": rises.mean(axis=1), "std": rises.std(axis=1),
                          "n_rows": len(X)})
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def feature_groups(classifier: TrainedClassifier) -> np.ndarray:
    """(n_inputs,) int64: for each preprocessed feature, the index of the raw column (feature_columns) it
    comes from (a number and its missing flag, a category's one-hot pieces, a text column's terms)."""
    pre = classifier.preprocessor
    widths = ([1 + c.indicator for c in pre.numeric] + [sum(1 + p.indicator for p in d.parts) for d in pre.dates]
              + [len(c.categories) + 1 for c in pre.categorical] + [len(t.vocabulary) for t in pre.text])
    return np.repeat(np.arange(len(widths)), widths)


def _target(classifier: TrainedClassifier, features: torch.Tensor) -> int | None:
    """The output explained: binary None (the one logit), otherwise the predicted class / likeliest label."""
    if classifier.task.single_logit:
        return None
    with torch.no_grad():  # in eval mode: a model left in train mode would draw its dropout masks here
        return int(_eval_forward(classifier)(features).argmax(dim=-1)[0])


def explained_output(classifier: TrainedClassifier, row: pd.DataFrame) -> str:
    """The name of the output explain_row explains for a row: binary the positive class, otherwise the
    predicted class (multiclass) or the likeliest label (multilabel)."""
    target = _target(classifier, classifier.transform(classifier._frame(row)))
    return str(classifier.classes[1 if target is None else target])


def _captum():
    try:
        from captum import attr
    except ImportError:  # an optional extra: everything else here works without it
        raise ConfigError("explaining one row needs Captum: pip install 'torchclassify[interpret]'") from None
    return attr


def explain_row(classifier: TrainedClassifier, row: pd.DataFrame, background: pd.DataFrame,
                n_samples: int = 50, seed: int = 0) -> pd.DataFrame:
    """Which raw columns pushed one row's prediction: Shapley values (Captum's ShapleyValueSampling).

    Each raw column is one player (its one-hot / TF-IDF pieces move together); a column left out takes the
    background rows' mean feature values. Contributions are in logits of the explained output (binary: the
    positive class; otherwise the predicted class or likeliest label) and add up to logit(row) - logit(mean).
    row: a one-row DataFrame of raw values; background: raw rows (e.g. the training split; a seeded sample of
    MAX_ROWS of them when there are more).
    Returns columns column, value, contribution, largest |contribution| first.
    """
    attr = _captum()
    features = classifier.transform(classifier._frame(row))  # (1, n_inputs)
    if features.shape[0] != 1:
        raise DataError(f"explain_row explains one row, got {features.shape[0]}")
    background = sample_rows(classifier._frame(background), None, MAX_ROWS, seed)[0]
    baseline = classifier.transform(background).mean(dim=0, keepdim=True)  # (1, n_inputs)
    mask = torch.as_tensor(feature_groups(classifier), device=features.device).reshape(1, -1)
    explainer = attr.ShapleyValueSampling(_eval_forward(classifier))
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
        torch.manual_seed(seed)  # the sampled column orders (exact for a model additive in its columns)
        values = explainer.attribute(features, baselines=baseline, target=_target(classifier, features),
                                     feature_mask=mask, n_samples=n_samples, perturbations_per_eval=64)
    per_feature = values[0].detach().cpu().numpy()  # each group's value is repeated on its features
    groups = feature_groups(classifier)
    first = np.unique(groups, return_index=True)[1]
    frame = pd.DataFrame({"column": classifier.feature_columns,
                          "value": [classifier._frame(row)[c].iloc[0] for c in classifier.feature_columns],
                          "contribution": per_feature[first]})
    return frame.reindex(frame["contribution"].abs().sort_values(ascending=False, kind="stable").index).reset_index(
        drop=True)


def _eval_forward(classifier: TrainedClassifier):
    model = classifier.model

    def forward(features: torch.Tensor) -> torch.Tensor:  # (m, n_inputs) -> (m,) or (m, n_outputs) logits
        was_training = model.training
        model.eval()
        try:
            return classifier.task.squeeze_logits(model(features))
        finally:
            model.train(was_training)
    return forward


def word_contributions(classifier: TrainedClassifier, row: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """For each text column, the row's words (and word pairs) that push its prediction most: the change in the
    explained logit when that term's TF-IDF weight is set to 0 (Captum's FeatureAblation, one term at a time).
    Returns columns column, term, contribution (positive: pushed towards the explained output)."""
    pre = classifier.preprocessor
    if not pre.text:
        return pd.DataFrame(columns=["column", "term", "contribution"])
    attr = _captum()
    features = classifier.transform(classifier._frame(row))  # (1, n_inputs)
    groups, starts = feature_groups(classifier), []
    mask = np.zeros(features.shape[1], dtype=np.int64)  # group 0: everything not ablated (its value unused)
    for t, text in enumerate(pre.text):
        at = int(np.nonzero(groups == len(pre.input_columns) - len(pre.text) + t)[0][0])
        present = at + np.nonzero(features[0, at:at + len(text.vocabulary)].cpu().numpy())[0]  # the row's terms
        mask[present] = np.arange(1, len(present) + 1) + mask.max()  # one forward pass per present term
        starts.append((text, at, present))
    values = attr.FeatureAblation(_eval_forward(classifier)).attribute(
        features, baselines=0.0, target=_target(classifier, features), perturbations_per_eval=64,
        feature_mask=torch.as_tensor(mask, device=features.device).reshape(1, -1))[0].detach().cpu().numpy()
    rows = []
    for text, at, present in starts:
        ranked = sorted(present, key=lambda k: -abs(values[k]))[:n]
        rows += [(text.name, text.vocabulary[k - at], float(values[k])) for k in ranked]
    return pd.DataFrame(rows, columns=["column", "term", "contribution"])


@dataclass
class Interpretation:
    """All of the above for one split of a run: `interpret` fills it, `to_dict` makes it JSON."""

    split: str
    top_losses: pd.DataFrame
    confused: pd.DataFrame
    importance: pd.DataFrame
    mean_loss: float = float("nan")  # of the split's rows as they are (what shuffling a column raises)
    n_rows: int = 0  # rows of the split
    row: object = None  # the explained row's index
    explained: str = ""  # the output its contributions push towards (explained_output)
    contributions: pd.DataFrame | None = None
    words: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def records(frame):
            return None if frame is None else frame.reset_index().astype(object).where(frame.reset_index().notna(),
                                                                                       None).to_dict("records")
        return {"split": self.split, "top_losses": records(self.top_losses), "confused": records(self.confused),
                "importance": records(self.importance), "mean_loss": self.mean_loss, "n_rows": self.n_rows, "row": _plain(self.row),
                "explained": self.explained, "contributions": records(self.contributions), "words": records(self.words), "notes": self.notes}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def interpret(classifier: TrainedClassifier, X: pd.DataFrame, y, background: pd.DataFrame | None = None,
              split: str = "test", n_top: int = 10, n_repeats: int = 5, row=None, seed: int = 0) -> Interpretation:
    """Top losses, confused pairs and permutation importance on raw rows (X, y), and the Shapley
    contributions for one row (its index label in X; default the highest-loss row) against `background`
    (default X). Without Captum installed, the one-row part is left out with a note."""
    if hasattr(classifier.preprocessor, "image_shape"):
        raise ConfigError("inspect explains table columns; a model trained on images is not supported yet - the "
                          "report's image grid shows its misclassified images")
    X = classifier._frame(X)
    if row is not None and row not in X.index:
        raise DataError(f"row {row} is not among the {split} rows (they are: {_shown(X.index)})")
    predicted = scores(classifier, X, y)  # one forward pass for the losses and the confusions
    top = top_losses(classifier, X, y, n_top, predicted)
    result = Interpretation(split, top, confused_pairs(classifier, X, y, predicted=predicted),
                            permutation_importance(classifier, X, y, n_repeats, seed),
                            float(losses_from_scores(*predicted).mean()), len(X))
    result.row = top.index[0] if row is None else row
    one = X.loc[[result.row]]
    result.explained = explained_output(classifier, one)
    try:
        result.contributions = explain_row(classifier, one, X if background is None else background, seed=seed)
        result.words = word_contributions(classifier, one)
    except ConfigError as err:
        result.notes.append(str(err))
    return result


def _shown(index) -> str:
    values = [str(v) for v in list(index)[:8]]
    return ", ".join(values) + (" ..." if len(index) > 8 else "")
