"""`TorchClassifier`: a scikit-learn estimator over the same workflow, preprocessing and training loop.

Parameters live only in `__init__`; `fit` validates, trains through `workflow.fit_in_memory` and sets
fitted attributes ending in `_`. Binary, multiclass and multilabel (2-D 0/1 `y`) follow sklearn's shapes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from .config import ModelConfig, TrainConfig, check_value, make_config
from .data.augment import training_augmenter
from .data.labels import to_json_scalar
from .data.split import class_names_shown
from .data.tensors import TensorData
from .engine.calibrate import MIN_ROWS, fold_temperature
from .engine.defaults import check_refit, choose_label_smoothing, choose_refit, choose_valid_size
from .engine.device import seeded_torch
from .engine.inference import in_batches
from .engine.loop import fit
from .errors import ConfigError, DataError
from .estimator_targets import checked_targets, class_weight_setting, named_labels
from .workflow import fit_in_memory, pilot_calibration

_M, _T = ModelConfig(), TrainConfig()
# The pilot fit behind `calibrate` and threshold="auto": its held-out share, and about the rows from which that
# share holds the MIN_ROWS that fit_temperature (and the threshold's choice) need to say anything.
PILOT_FRACTION = 0.2
PILOT_MIN_ROWS = int(MIN_ROWS / PILOT_FRACTION)


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A PyTorch MLP classifier with scikit-learn's API; every default is chosen to work on real tables.

    Settings left at None are chosen from the data at fit time (see `engine/defaults.py`):
      epochs, batch_size, patience: from the number of training rows. An ensemble on 20,000+ training rows
        takes 256 rows a member a step at 4 x `lr`, unless you set batch_size.
      early_stopping: None means on when `epochs` is None and the table has enough rows to judge on a
        held-out split (2,000+; smaller tables train every row for the data-chosen epochs), and off when you
        set `epochs` (exactly that many epochs on every row, so searching `epochs` means something).
        True: `epochs` is an upper bound and `patience` applies.
      validation_fraction: rows held out for early stopping and the temperature; None: 10 % from 2,000 rows
        (below that none, or 20 % with early_stopping=True).
      refit: after early stopping, train again on every row for the best number of epochs: True, False, or
        "auto": only below 2,000 rows (from 2,000 the early-stopped network measured as accurate, in 2/3 the time).
      class_weight: as scikit-learn spells it: None, "balanced" (inverse class frequency) or a dict
        {class label: weight} (multilabel: {label index: weight of its positives}); "auto" is "balanced"
        only when classes are very imbalanced (see `choose_class_weight`). The default, None, weighs every
        row alike: "auto" cost 11.9 points of accuracy on a 29:1 table (docs/quality.md).
      recipe: "tabular", "mlp" or "auto" (tabular from 1,000 training rows with a validation split, unless X is
        at most 2 numeric columns; below 2,000 rows the estimator keeps no validation split, so "mlp");
        see docs/defaults.md.
      members: networks averaged (None: 4 for the tabular recipe, 2 from 20,000 training rows, 1 for the plain
        MLP); 4 on a large table trades time for a little accuracy (docs/quality.md, nineteenth round).
      piecewise: how many of the tabular recipe's networks also read each number in 16 quantile bins
        (None: half of them, none on a table of more than ~120 number columns; 0: none, the recipe as it was).
      random_state: an int seed (same seed -> identical weights), or None for a fresh one each fit.
      calibrate: a fit on every row (no validation split) from 250 rows gets a temperature from a pilot fit
        on 80% of them (`_pilot`: a second, smaller fit); False skips it. threshold="auto" uses the pilot too.
      label_smoothing: "auto" is 0.1 where held-out rows (a validation split's or that pilot's, 50 or more)
        calibrate the fit, else 0. Any smoothing lets the temperature sharpen (T < 1): such a network is too
        soft by design.
      log_skewed: read a column of X that is >= 0 with skewness above 2 on a log scale (data/numbers.py).

    X: a NumPy array (numbers, NaN allowed) or a pandas DataFrame (numbers, categories, text, missing
    values: the CLI's preprocessing). y: (n,) labels, or (n, L) 0/1 indicators for multilabel.

    Fitted attributes: classes_, n_features_in_, feature_names_in_ (DataFrame input), history_ (one dict
    per epoch of the run that made the final weights), validation_history_ (the early-stopping run when a
    refit followed), best_epoch_, n_iter_ (epochs run), temperature_ (the logits' divisor fitted on the
    validation rows, already folded into the network; 1.0 when none), config_ (the resolved RunConfig), classifier_ (the
    TrainedClassifier: `classifier_.save(path)` writes torchclassify's pickle-free format).
    """

    def __init__(self, hidden=tuple(_M.hidden), activation=_M.activation, dropout=_M.dropout, norm=_M.norm,
                 optimizer=_T.optimizer, lr=_T.lr, weight_decay=_T.weight_decay, batch_size=None, epochs=None,
                 early_stopping=None, patience=None, validation_fraction=None, refit="auto",
                 class_weight=None, schedule=_T.schedule, clip_grad_norm=None, augment="none",
                 augment_strength=None, threshold=_T.threshold, device="auto", random_state=0, verbose=False,
                 recipe=_M.recipe, label_smoothing="auto", beta2=_T.beta2, calibrate=True,
                 log_skewed=True, piecewise=None, members=None):
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.class_weight = class_weight
        self.schedule = schedule
        self.clip_grad_norm = clip_grad_norm
        self.augment = augment
        self.augment_strength = augment_strength
        self.threshold = threshold
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.recipe = recipe
        self.label_smoothing = label_smoothing
        self.beta2 = beta2
        self.calibrate = calibrate
        self.log_skewed = log_skewed
        self.piecewise = piecewise
        self.members = members

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are imputed, with a "was missing" column
        tags.classifier_tags.multi_label = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        return tags

    # ---- fitting -------------------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train a fresh network on X (n, n_features) and y (n,) or (n, L); returns self.

        sample_weight: (n,) non-negative weight of each row in the loss (0: as if the row were absent).
        """
        frame, y = self._validate(X, y, reset=True)
        y_frame = self._encode_targets(y, classes=None)
        with class_names_shown(self._class_names()):
            self._fit_frame(frame, y_frame, sample_weight=sample_weight)
        return self

    def partial_fit(self, X, y, classes=None):
        """Continue training the fitted network for one epoch on X, y (the first call fits one epoch).

        classes: every class, required on the first call unless y is a multilabel indicator; later calls
        may hold any subset. Preprocessing, augmentation, label smoothing and temperature stay the first fit's.
        """
        if not hasattr(self, "classifier_"):
            frame, y = self._validate(X, y, reset=True)
            y_frame = self._encode_targets(y, classes=classes)
            with class_names_shown(self._class_names()):
                self._fit_frame(frame, y_frame, epochs=1, pilot=False)  # (one epoch, to be continued: no pilot)
            return self
        frame, y = self._validate(X, y, reset=False)
        y_codes = self._encode_targets(y, classes=self.classes_).to_numpy()
        self._continue(frame, y_codes if self._multilabel else y_codes[:, 0])
        return self

    def _class_names(self) -> list | None:
        """classes_ as the workflow's warnings should name the codes it trains on (None: multilabel)."""
        return None if self._multilabel else [to_json_scalar(c) for c in self.classes_]

    def _validate(self, X, y, reset: bool):
        """Check X (and y) the sklearn way; returns (X as a DataFrame of raw columns, y as an array).

        Rows come as the fit's: a DataFrame by column name; an array by position. A fit on one and rows in
        the other are read by position, with scikit-learn's warning (validate_data gives it).
        """
        fitted_on_frame = getattr(self, "_fit_columns", None) is not None
        if isinstance(X, pd.DataFrame) and X.columns.has_duplicates:
            raise DataError(f"X has duplicate column names {sorted(set(X.columns[X.columns.duplicated()]))}: give "
                             "each column a unique name")
        if isinstance(X, pd.DataFrame) and (reset or fitted_on_frame):
            validate_data(self, X, skip_check_array=True, reset=reset)  # n_features_in_, feature_names_in_
            if X.shape[0] == 0:
                raise ValueError("Found array with 0 sample(s) (shape=(0, ...)) while a minimum of 1 is required.")
            frame = X.copy()
            frame.columns = [str(c) for c in X.columns]
            if reset:
                self._fit_columns = list(frame.columns)
        elif not reset and fitted_on_frame:  # an array for a DataFrame fit: its columns by position
            validate_data(self, X, skip_check_array=True, reset=False)
            array = np.asarray(X)
            if array.ndim != 2 or array.shape[0] == 0:
                raise DataError(f"Expected a non-empty 2-D array of rows, got shape {array.shape}")
            frame = pd.DataFrame(array, columns=self._fit_columns).infer_objects()
        else:
            try:
                X = np.asarray(validate_data(self, X, dtype="numeric", ensure_all_finite="allow-nan", reset=reset))
            except ValueError as error:
                if "could not convert" not in str(error):
                    raise  # (scikit-learn's own messages, which its checks match)
                raise DataError(f"X holds text ({str(error).split(': ', 1)[-1]}), which an array of numbers cannot: "
                                "pass a pandas DataFrame, whose text columns are read as categories") from None
            # The caller's matrix as it is (float32 stays float32; the preprocessing reads a column at a time
            # in float64), a view rather than a float64 copy of the whole table (docs/benchmarks.md, "Memory").
            frame = pd.DataFrame(X if X.dtype.kind in "fiu" else X.astype(np.float64), copy=False,
                                 columns=[f"x{i}" for i in range(X.shape[1])])
            if reset:
                self._fit_columns = None
        return frame, checked_targets(y, len(frame))

    def _encode_targets(self, y, classes) -> pd.DataFrame:
        """y -> the workflow's target frame: class indices (n, 1), or (n, L) 0/1 columns for multilabel.

        Sets classes_ on a fresh fit. Labels are encoded here, sklearn's way (np.unique order), so any
        label type works and predictions come back in the same type.
        """
        multilabel = type_of_target(y) == "multilabel-indicator"
        if classes is not None and hasattr(self, "classes_"):  # a later partial_fit call
            if multilabel != self._multilabel:
                raise DataError("y changed between multilabel and single-label since the first partial_fit")
        elif multilabel:
            self.classes_ = np.arange(y.shape[1])
        else:
            # unique_labels: sorted, in any order given, and a ValueError for a mix of strings and numbers
            self.classes_ = unique_labels(y) if classes is None else unique_labels(np.asarray(classes))
            if len(self.classes_) < 2:
                raise DataError(f"y holds 1 class ({to_json_scalar(self.classes_[0])!r}); a classifier needs at least 2 classes")
        self._multilabel = multilabel
        if multilabel:
            return pd.DataFrame(np.asarray(y, dtype=np.int64), columns=[f"label_{i}" for i in range(y.shape[1])])
        codes = np.searchsorted(self.classes_, y)
        if not np.array_equal(self.classes_[np.clip(codes, 0, len(self.classes_) - 1)], y):
            raise DataError(f"y holds labels not in classes={[to_json_scalar(c) for c in self.classes_]}")
        if classes is not None and not hasattr(self, "classifier_") and len(np.unique(codes)) < len(self.classes_):
            raise DataError("the first partial_fit batch must hold every class: the network's outputs are "
                             "sized from it")
        return pd.DataFrame({"target": codes})

    def _settings(self, n_rows: int, y_frame: pd.DataFrame, epochs: int | None) -> dict:
        """This estimator's parameters -> flat workflow settings, with the data-dependent choices made."""
        epochs = self.epochs if epochs is None else epochs
        stop_early = self.early_stopping if self.early_stopping is not None else epochs is None
        valid = 0.0
        if stop_early:
            valid = self.validation_fraction
            if valid is None:  # asked for explicitly, early stopping gets a split even on a small table
                valid = choose_valid_size(n_rows) or (0.2 if self.early_stopping and n_rows >= 10 else 0.0)
        class_weight = class_weight_setting(self.class_weight, getattr(self, "classes_", None), self._multilabel,
                                            y_frame)
        seed = self.random_state
        if seed is None or not isinstance(seed, (int, np.integer)):
            seed = int(np.random.default_rng(None if seed is None else seed).integers(2**31))
        return dict(
            hidden=list(self.hidden), activation=self.activation, dropout=self.dropout, norm=self.norm,
            recipe=self.recipe, label_smoothing=self.label_smoothing, beta2=self.beta2, log_skewed=self.log_skewed,
            piecewise=self.piecewise, members=self.members,
            optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
            epochs=epochs, early_stopping=bool(stop_early and valid > 0), patience=self.patience,
            valid_size=valid, class_weight=class_weight, schedule=self.schedule,
            clip_grad_norm=self.clip_grad_norm, augment=self.augment, augment_strength=self.augment_strength,
            threshold=self.threshold, device=self.device, seed=int(seed),
            task="multilabel" if self._multilabel else "auto",
            positive=None if self._multilabel or len(self.classes_) != 2 else "1",  # classes_[1], as sklearn has it
            detect_columns=False,  # an estimator learns from the columns it is given, as scikit-learn's do
        )

    def _fit_frame(self, frame: pd.DataFrame, y_frame: pd.DataFrame, epochs: int | None = None,
                   sample_weight=None, pilot: bool = True) -> None:
        settings = self._settings(len(frame), y_frame, epochs)
        if not isinstance(self.calibrate, (bool, np.bool_)):
            raise ConfigError(f"calibrate must be True or False, got {self.calibrate!r}")
        check_refit(self.refit)
        rows = len(frame) if sample_weight is None else np.count_nonzero(np.asarray(sample_weight) > 0)  # (0: absent)
        # The rows a temperature is fitted on: the validation split's, else the pilot's held-out share.
        held_out = settings["valid_size"] or (PILOT_FRACTION if pilot and self.calibrate else 0.0)
        settings["label_smoothing"] = choose_label_smoothing(self.label_smoothing, int(rows * held_out) >= MIN_ROWS)
        parameters = self.get_params(deep=False)
        for name, value in settings.items():  # the library's messages name the parameter, not the CLI flag
            if name in parameters:
                check_value(name, value, shown=f"{name}=")
        progress = "lines" if self.verbose else "quiet"
        sample_weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        auto_threshold = settings["threshold"] == "auto"
        if auto_threshold and not (self._multilabel or len(self.classes_) == 2):
            warnings.warn("threshold='auto' is not used: a multiclass model predicts its most probable class",
                          stacklevel=3)
            auto_threshold, settings["threshold"] = False, 0.5
        if auto_threshold and settings["valid_size"] == 0:
            settings["threshold"] = 0.5  # "auto" is chosen below, on the pilot fit's held-out rows
            if not pilot:
                warnings.warn("threshold='auto' needs held-out rows, which partial_fit does not keep: the "
                              "threshold stays 0.5", stacklevel=3)
        run = fit_in_memory(frame, y_frame, make_config(**settings), progress=progress, sample_weight=sample_weight)
        threshold = run.classifier.threshold  # ("auto" with a validation split: chosen on it)
        self.validation_history_ = None
        best = run.summary["best_epoch"]
        refit_epochs = None
        if run.config.train.early_stopping and best is not None:
            refit_epochs = choose_refit(self.refit, len(frame), best)
        if refit_epochs:
            # The held-out rows found how long to train; now let them teach too.
            self.validation_history_ = run.history
            # The refit keeps the judged run's recipe, temperature and threshold: it has no held-out rows of its
            # own to choose the recipe by, to calibrate on or to choose a threshold on.
            temperature = run.summary.get("temperature", 1.0)
            run = fit_in_memory(frame, y_frame, make_config(**{**settings, "epochs": refit_epochs,
                                                               "early_stopping": False, "valid_size": 0.0,
                                                               "recipe": run.config.model.recipe,
                                                               "members": run.config.model.members,
                                                               "piecewise": run.config.model.piecewise,
                                                               "threshold": 0.5 if auto_threshold else threshold}),
                                progress=progress, sample_weight=sample_weight)
            run.classifier.threshold = threshold
            if fold_temperature(run.classifier.model, temperature):
                run.summary["temperature"] = temperature
        elif pilot and len(run.splits.get("valid", ())) == 0 and (
                auto_threshold or (self.calibrate and len(frame) >= PILOT_MIN_ROWS)):
            temperature, chosen = self._pilot(frame, y_frame, settings, run, progress, sample_weight, auto_threshold)
            if fold_temperature(run.classifier.model, temperature):
                run.summary["temperature"] = temperature
            if chosen is not None:
                run.classifier.threshold = chosen
        self.classifier_ = run.classifier
        if not self._multilabel:  # (so that classifier_.save -> torchclassify.load predicts in them)
            self.classifier_.labels = named_labels(self.classifier_.labels, self.classes_)
        self.config_ = run.config
        self.history_ = run.history
        self.n_iter_ = run.summary["epochs_run"]
        self.best_epoch_ = best if best is not None else self.n_iter_
        self.temperature_ = run.summary.get("temperature", 1.0)
        # partial_fit continues with the same optimizer (Adam's moments) and loss (the class weights of the
        # rows that made the network), as one long training would.
        self._optimizer, self._loss_fn = run.optimizer, run.loss_fn
        self._n_partial = 0

    def _pilot(self, frame: pd.DataFrame, y_frame: pd.DataFrame, settings: dict, run, progress: str,
               sample_weight, choose: bool) -> tuple[float, float | list[float] | None]:
        """(temperature, threshold: None unless choose) for `run`, trained on every row: pilot_calibration."""
        t = run.config.train
        if progress != "quiet":
            print(f"pilot    the same fit on {1 - PILOT_FRACTION:.0%} of the rows, for the fit's temperature", flush=True)
        config = make_config(**{**settings, "valid_size": PILOT_FRACTION, "early_stopping": False,
                                "epochs": t.epochs, "batch_size": t.batch_size, "recipe": run.config.model.recipe,
                                "members": run.config.model.members, "piecewise": run.config.model.piecewise})
        temperature, threshold, n_rows = pilot_calibration(frame, y_frame, config, calibrate=bool(self.calibrate),
                                                           choose=choose, sample_weight=sample_weight)
        if choose and threshold is None:
            warnings.warn(f"threshold='auto': {n_rows} held-out rows are too few to choose a threshold on "
                          f"(at least {MIN_ROWS}); it stays 0.5", stacklevel=4)
        return temperature, threshold

    def _continue(self, frame: pd.DataFrame, y_codes: np.ndarray) -> None:
        """One more epoch on new rows for the fitted network, through the same loop (`engine.loop.fit`)."""
        clf, t = self.classifier_, self.config_.train
        task = clf.task
        X = clf.transform(frame)
        y = torch.as_tensor(np.array(y_codes)).to(X.device, task.target_dtype())  # a writable copy
        self._n_partial += 1
        generator = torch.Generator().manual_seed(t.seed + self._n_partial)
        clf.model.train()
        # The head carries 1/T: train the network as it was trained, then fold the same T back (no held-out rows).
        temperature = getattr(self, "temperature_", 1.0)
        fold_temperature(clf.model, 1.0 / temperature)
        try:
            with seeded_torch(t.seed + self._n_partial, X.device):
                n_classes = clf.labels.n_classes
                augment = training_augmenter(self.config_, task, n_classes, generator)  # (the fit's)
                state = fit(clf.model, task, TensorData(X, y), None, t, n_classes=n_classes, n_epochs=1,
                            augment=augment, batch_size=t.batch_size or len(X), generator=generator,
                            optimizer=self._optimizer, loss_fn=self._loss_fn)
        finally:
            fold_temperature(clf.model, temperature)
        clf.model.eval()
        self.history_ = list(self.history_) + state.history
        self.n_iter_ += 1

    # ---- predicting ----------------------------------------------------------------------------------

    def _logits(self, X) -> np.ndarray:
        """Raw rows -> logits as float64: binary (n,), otherwise (n, n_outputs).

        The network runs in float64 here: float32 matrix products round differently with the batch's size,
        and sklearn users rely on a row's prediction not depending on which other rows came with it.
        """
        check_is_fitted(self, "classifier_")
        frame, _ = self._validate(X, None, reset=False)
        clf = self.classifier_
        X_rows = clf.transform(frame).double()  # (n, n_inputs)
        params = {k: v.double() if v.is_floating_point() else v for k, v in clf.model.state_dict().items()}
        was_training = clf.model.training
        clf.model.eval()
        try:
            with torch.inference_mode():  # SCORING_ROWS a pass: what it holds is bounded by the batch, not by X
                logits = in_batches(lambda rows: torch.func.functional_call(clf.model, params, (rows,)), X_rows)
        finally:
            clf.model.train(was_training)
        return clf.task.squeeze_logits(logits).cpu().numpy()

    def decision_function(self, X) -> np.ndarray:
        """Scores whose sign (binary, multilabel) or argmax (multiclass) gives the prediction.

        Returns binary (n,), multiclass (n, C), multilabel (n, L): logits, shifted by logit(threshold) so
        that 0 is the decision boundary.
        """
        logits = self._logits(X)
        if self.classifier_.task.uses_threshold:
            threshold = np.asarray(self.classifier_.threshold, dtype=np.float64)  # (chosen on validation with "auto")
            logits = logits - np.log(threshold / (1.0 - threshold))
        return logits

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities: binary and multiclass (n, n_classes) summing to 1; multilabel (n, L) per label."""
        logits = self._logits(X)
        if self.classifier_.task.uses_threshold:
            y_proba = 1.0 / (1.0 + np.exp(-logits))  # float64 sigmoid keeps the logits' ranking
            return np.column_stack([1.0 - y_proba, y_proba]) if y_proba.ndim == 1 else y_proba
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """Labels: (n,) in the type of the training y, or (n, L) 0/1 for multilabel."""
        scores = self.decision_function(X)
        if self._multilabel:
            return (scores > 0).astype(np.int64)
        codes = (scores > 0).astype(np.int64) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[codes]
