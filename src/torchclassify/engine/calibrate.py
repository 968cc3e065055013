"""Temperature scaling: one number T that divides the logits, fitted on validation rows for the lowest loss.

Label smoothing keeps a network's probabilities away from 0 and 1 by design; dividing its logits by T < 1
sharpens them back (T > 1 softens an over-confident network). Decisions do not change (argmax and the
sign of a logit are kept), only the probabilities. `fold_temperature` writes 1/T into the head's weights,
so the saved model file holds the calibrated network and nothing else changes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..tasks import Task

T_RANGE = (0.05, 20.0)
MIN_ROWS = 50  # fewer validation rows than this say too little about the probabilities: T stays 1
MAX_ROWS = 50_000  # an evenly spaced sample of larger validation sets: T is one number, the search 60+ passes


def fit_temperature(task: Task, logits: torch.Tensor, y_true: torch.Tensor, doubt: bool = False) -> float:
    """The T in T_RANGE that minimises the task's loss of logits / T on (logits, y_true).

    logits: the model's outputs (n, n_outputs); y_true: encoded targets, class indices (n,) or 0/1 (n,) /
    (n, L). A 1-D search on log T (golden section: the loss is convex in 1/T), in float64 so that the answer
    does not depend on the batch order. T stays 1 on fewer than MIN_ROWS rows and when the best T lies at a
    bound of T_RANGE (no minimum inside: e.g. validation rows all predicted right).
    doubt: the targets are blended with the uniform distribution by one row's worth (1/n), so that rows all
    predicted right still have a best T short of certainty instead of none (a smoothed network's case).
    """
    if len(logits) < MIN_ROWS:
        return 1.0
    blend = 1 / len(logits) if doubt else 0.0
    step = -(-len(logits) // MAX_ROWS)
    logits, y_true = logits[::step], y_true[::step]
    logits = logits.detach().double()
    target = task.as_training_target(y_true.to(logits.device))
    target = target.double() if target.is_floating_point() else target
    if blend:
        n_values = 2 if task.uses_threshold else logits.shape[1]  # a label is one of 2; a class one of C
        soft = task.to_soft_targets(y_true.to(logits.device), logits.shape[1]).double().reshape(logits.shape)
        target = (1 - blend) * soft + blend / n_values
    loss = task.make_loss(None)

    def objective(log_t: float) -> float:
        return float(loss(logits / torch.exp(torch.tensor(log_t, dtype=torch.float64)), target))

    bounds = torch.tensor(T_RANGE).log().tolist()
    low, high = bounds
    ratio = (5 ** 0.5 - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = objective(a), objective(b)
    for _ in range(60):  # the bracket shrinks to 0.618^60 of its width: far below float32's precision
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = objective(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = objective(b)
    best = (low + high) / 2
    # A search that ends at a bound of T_RANGE has no minimum inside it: the loss keeps falling as T shrinks
    # when every validation row is already right (sharper is always "better" there, and wrong on new rows).
    # Rows right by wide margins make the loss exactly 0 in float64 before the bound: flat, no minimum either.
    at_bound = (min(abs(best - bounds[0]), abs(best - bounds[1])) < 0.01 * (bounds[1] - bounds[0])
                or min(objective(bounds[0]), objective(bounds[1])) <= objective(best))
    if at_bound or objective(best) >= objective(0.0):
        return 1.0
    return float(torch.exp(torch.tensor(best)))


def heads_of(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers whose outputs make the logits: a built-in network's last one, or each member's of an
    ensemble (which averages its members' logits); [] for a network without a known head."""
    members = getattr(model, "members", None)
    if isinstance(members, nn.ModuleList):
        heads = [heads_of(member) for member in members]
        return [head for found in heads for head in found] if all(heads) else []
    layers = getattr(model, "layers", None)
    if isinstance(layers, nn.Sequential) and isinstance(layers[-1], nn.Linear):
        return [layers[-1]]
    return []


@torch.no_grad()
def fold_temperature(model: nn.Module, temperature: float) -> bool:
    """Divide the head's weight and bias by T in place, so model(X) == old model(X) / T (an ensemble: every
    member's head, so that their mean is divided too). False (unchanged) when the model has no known head (a
    custom network)."""
    heads = heads_of(model)
    if not heads or temperature == 1.0:
        return bool(heads)
    for head in heads:
        head.weight.div_(temperature)
        if head.bias is not None:
            head.bias.div_(temperature)
    return True
