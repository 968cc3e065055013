"""A hand-derived backward pass for the built-in MLP: autograd's gradients without autograd's overhead.

Why: on a small network a training step is almost all fixed per-call overhead, and most of it is
autograd's: recording the graph during the forward pass, the Python wrapper around the engine, the engine
itself. scikit-learn's MLPClassifier is fast on small tables because it writes its backward pass by hand in
NumPy; this module does the same with torch ops. Where a backward kernel exists (threshold_backward,
nll_loss_backward, ...) it calls the one autograd would call, and dropout draws its masks with the
model's own `models.dropout_mask`, so both paths train the same model from one seed up to float rounding
(tests/test_manual_backward.py checks every activation, loss, weighting, soft-target and dropout case).

It applies to `torchclassify.models.MLP` made of Linear, activation and Dropout layers (no norm layers)
whose weights are plain Parameters, with no hooks and no parametrizations (pruning, weight norm,
spectral norm), with the tasks' losses, in one process, without AMP or torch.compile. Anything else trains
through autograd in `loop.train_step`; TrainConfig.backward = "autograd" forces that path everywhere.
Measurements: docs/benchmarks.md.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..models import MLP, Dropout, dropout_mask

aten = torch.ops.aten  # called as aten.<op>.default: a fixed overload skips the per-call overload lookup


# On CPU, MKL's sgemm is 2-9x slower at a (rows, k) x (k, n) product when it writes n < 16 columns of a
# row-major (rows, n) output than when it writes the same numbers column by column, once the rows are a few
# hundred (docs/benchmarks.md, "Narrow layers"). So a tall batch's narrow hidden activations and their
# gradients are stored feature-major there. Same products and sums; only the kernel's order of adding them
# may differ. A rule on shapes, not on timings, so two runs with one seed round identically.
# Measured with MKL only: other CPU BLAS builds (OpenBLAS on ARM, Accelerate) keep the row-major layout.
NARROW_FEATURES = 16 if torch.backends.mkl.is_available() else 0
TALL_ROWS = 256


def _is_tall_and_narrow(rows: int, features: int, like: torch.Tensor) -> bool:
    return features < NARROW_FEATURES and rows >= TALL_ROWS and like.device.type == "cpu"


def _reuse(buffer: torch.Tensor | None, rows: int, features: int, like: torch.Tensor) -> torch.Tensor:
    """`buffer` when it can hold a (rows, features) activation or gradient like `like`, else a new one, stored
    feature-major where _is_tall_and_narrow says so (element (i, j) at j * rows + i).

    A layer writes its activations and gradients into the same memory every step: fresh tensors of a few
    MB each step made glibc map and fault in new pages (~1000 minor faults a step on the wide workload).
    """
    if buffer is not None and buffer.shape[0] == rows and buffer.device == like.device and buffer.dtype == like.dtype:
        return buffer
    if _is_tall_and_narrow(rows, features, like):
        return like.new_empty((features, rows)).t()
    return like.new_empty((rows, features))


class _Linear:
    """y = x W^T + b; backward gives dW = g^T x, db = sum_rows(g), and dx = g W when a layer below needs it."""

    def __init__(self, layer: nn.Linear, needs_input_grad: bool, head: bool):
        self.weight, self.bias, self.needs_input_grad, self.head = layer.weight, layer.bias, needs_input_grad, head
        self.output = self.input_grad = None  # y and dx, reused from step to step (see _reuse)

    def forward(self, x: torch.Tensor, out: torch.Tensor | None = None):
        """out: (b, out_features) to write y into (the loop's buffer of the epoch's logits), else the layer's
        own buffer; the head, whose logits the loop keeps, gets a new tensor instead."""
        if out is None and not self.head:
            out = self.output = _reuse(self.output, x.shape[0], self.weight.shape[0], x)
        if out is None:
            return F.linear(x, self.weight, self.bias), x
        # F.linear is this same addmm (mm without a bias), so the values are bit-identical either way.
        if self.bias is None:
            return torch.mm(x, self.weight.t(), out=out), x
        return torch.addmm(self.bias, x, self.weight.t(), out=out), x

    def backward(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        # (out, in) and (out,), overwriting the previous step's gradients (as zero_grad + backward would)
        self.weight.grad = torch.mm(grad.t(), x, out=_own(self.weight.grad, self.weight))
        if self.bias is not None:
            self.bias.grad = torch.sum(grad, 0, out=_own(self.bias.grad, self.bias))
        if not self.needs_input_grad:
            return None
        return torch.mm(grad, self.weight, out=self._input_grad_buffer(grad))  # (b, in)

    def _input_grad_buffer(self, grad: torch.Tensor) -> torch.Tensor:
        """Where dx goes: this layer's own output buffer when it has dx's shape, else a buffer of its own.

        Why: by the time a layer's backward runs, its output y is dead (every layer above has done its
        backward), and y's buffer was read moments ago, so it is still in cache. On the wide workload
        (32->512->512->4, batch 1024) a fourth 2 MB buffer cost 0.5-3 % of the step in cache misses.
        """
        rows, in_features = grad.shape[0], self.weight.shape[1]
        if self.output is not None and self.output.shape == (rows, in_features) and self.output.dtype == grad.dtype:
            return self.output  # (same shape, so _reuse gave it dx's layout)
        self.input_grad = _reuse(self.input_grad, rows, in_features, grad)
        return self.input_grad


def _own(grad: torch.Tensor | None, param: torch.Tensor) -> torch.Tensor:
    """The parameter's gradient tensor, to be overwritten; a new one the first time."""
    return grad if grad is not None and grad.shape == param.shape else torch.empty_like(param)


class _Activation:
    """An elementwise activation; `backward_kernel(grad, input, output)` is the derivative autograd uses.

    output_read: what the backward kernel reads of the output y: "value" (tanh, sigmoid), "sign" (ReLU:
    y > 0) or "none" (the others read their input). A dropout after it may scale y in place unless "value".
    """

    def __init__(self, forward: Callable, backward_kernel: Callable, output_read: str = "none"):
        self.forward_fn, self.backward_kernel, self.output_read = forward, backward_kernel, output_read

    def forward(self, x: torch.Tensor):
        y = self.forward_fn(x)
        return y, (x, y)  # x is y itself for the in-place activations; their kernels read only y

    def backward(self, grad: torch.Tensor, saved) -> torch.Tensor:
        return self.backward_kernel(grad, *saved)


class _Dropout:
    """Inverted dropout: keep each unit with probability 1-p and scale it by 1/(1-p); identity in eval mode.

    The mask comes from `models.dropout_mask`, the function `models.Dropout` calls in the model's own forward,
    so the hand-derived and the autograd paths consume the random stream alike and drop the same units.
    """

    def __init__(self, layer: Dropout, in_place: bool = False):
        self.layer, self.in_place = layer, in_place

    def forward(self, x: torch.Tensor):
        p = self.layer.p
        if not self.layer.training or p == 0:
            return x, None
        mask = dropout_mask(x.shape, p, x.dtype, x.device)  # (b, width), as Dropout.forward draws it
        # In place: x is the activation's fresh output and its backward does not need y's values (build
        # checks), so the masked copy need not be a new (b, width) tensor each step. ReLU's backward tests
        # y > 0, which y * mask keeps where the unit is kept; where it is dropped the gradient is 0 both ways.
        return (x.mul_(mask) if self.in_place else x * mask), mask

    def backward(self, grad: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor | None:
        # (grad is None below the first Linear layer: a dropout on the input needs no gradient)
        # grad is the dx buffer of the Linear above, which nothing reads after this: scaled in place.
        return grad if mask is None or grad is None else grad.mul_(mask)


def _activation(layer: nn.Module) -> _Activation | None:
    """The forward function and backward kernel of a supported activation module, else None."""
    kind = type(layer)
    # ReLU, tanh and sigmoid differentiate from their output alone, so they overwrite their input in place:
    # it is the fresh output of the Linear layer before them, which nothing else keeps.
    # Their backward overwrites the incoming gradient too: a Linear layer's dx buffer or dropout's new tensor.
    if kind is nn.ReLU:
        return _Activation(torch.relu_, lambda g, x, y: aten.threshold_backward.grad_input(g, y, 0, grad_input=g),
                           "sign")
    if kind is nn.Tanh:
        return _Activation(torch.tanh_, lambda g, x, y: aten.tanh_backward.grad_input(g, y, grad_input=g), "value")
    if kind is nn.Sigmoid:
        return _Activation(torch.sigmoid_, lambda g, x, y: aten.sigmoid_backward.grad_input(g, y, grad_input=g),
                           "value")
    if kind is nn.GELU:
        mode = layer.approximate
        return _Activation(lambda x: F.gelu(x, approximate=mode),
                           lambda g, x, y: aten.gelu_backward.default(g, x, approximate=mode))
    if kind is nn.SiLU:
        return _Activation(F.silu, lambda g, x, y: aten.silu_backward.default(g, x))
    if kind is nn.LeakyReLU:
        slope = layer.negative_slope
        return _Activation(lambda x: F.leaky_relu(x, slope),
                           lambda g, x, y: aten.leaky_relu_backward.default(g, x, slope, False))
    if kind is nn.ELU:
        alpha = layer.alpha
        return _Activation(lambda x: F.elu(x, alpha),  # elu_backward(grad, alpha, scale, input_scale, is_result, x)
                           lambda g, x, y: aten.elu_backward.default(g, alpha, 1, 1, False, x))
    return None


def _bce_with_logits(loss_fn: nn.BCEWithLogitsLoss):
    pos_weight = loss_fn.pos_weight

    def grad_of_mean_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """logits, y (b, outputs) float -> d(mean loss) / d logits (b, outputs)."""
        p = torch.sigmoid(logits)
        if pos_weight is None:
            grad = p.sub_(y)  # d/dz of the per-element loss: sigmoid(z) - y
        else:  # with w = pos_weight: sigmoid(z) (w y + 1 - y) - w y
            wy = y * pos_weight
            grad = p.mul_(wy - y + 1).sub_(wy)
        return grad.mul_(1.0 / logits.numel())

    return grad_of_mean_loss


def _cross_entropy(loss_fn: nn.CrossEntropyLoss):
    weight = loss_fn.weight
    minus_one = None  # (rows, 1) of -1 for the largest batch so far, sliced for each step

    def grad_of_mean_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """logits (b, classes), y (b,) int64 or (b, classes) probabilities -> d(mean loss) / d logits."""
        nonlocal minus_one
        if y.dtype == torch.int64:  # class indices: w_y (softmax(z) - onehot(y)) / sum of the rows' w_y
            # Written out rather than through autograd's log-softmax, nll and their backward kernels (equal to
            # ~1e-9): torch's CPU log-softmax along a row of a few classes is slow, and this is 2-5x faster for
            # the (256, 10) to (1437, 10) logits of small tables (docs/benchmarks.md, "The cross-entropy
            # gradient of the hand-derived step").
            z = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
            p = (z - z.amax(1, keepdim=True)).exp_()
            p.div_(p.sum(1, keepdim=True))  # (b, classes) softmax
            fits = minus_one is not None and minus_one.shape[0] >= len(y) and minus_one.device == p.device
            if not fits or minus_one.dtype != p.dtype:
                minus_one = torch.full((len(y), 1), -1.0, dtype=p.dtype, device=p.device)
            p.scatter_add_(1, y.unsqueeze(1), minus_one[:len(y)])  # minus one at each row's own class
            if weight is None:
                grad = p.mul_(1.0 / len(y))
            else:
                row_weight = weight[y]  # (b,)
                grad = p.mul_((row_weight / row_weight.sum()).unsqueeze(1))
            return grad.to(logits.dtype)
        log_p = torch.log_softmax(logits, 1)
        # Probabilities (mixup): loss = -sum_c w_c y_c log p_c averaged over rows, so
        # d/dz = p * sum_c(w_c y_c) - w * y, over the number of rows.
        wy = y if weight is None else y * weight
        grad = log_p.exp_().mul_(wy.sum(1, keepdim=True)).sub_(wy)
        return grad.mul_(1.0 / logits.shape[0])

    return grad_of_mean_loss


def _loss(loss_fn: nn.Module):
    """grad_of_mean_loss for the tasks' two losses in their plain form (mean, no smoothing), else None.

    Only the gradient: the loop computes the epoch's loss once from all the epoch's logits.
    """
    if type(loss_fn) is nn.BCEWithLogitsLoss and loss_fn.weight is None and loss_fn.reduction == "mean":
        return _bce_with_logits(loss_fn)
    if (type(loss_fn) is nn.CrossEntropyLoss and loss_fn.reduction == "mean" and loss_fn.label_smoothing == 0
            and loss_fn.ignore_index == -100):
        return _cross_entropy(loss_fn)
    return None


def _plain(model: nn.Module) -> bool:
    """No hooks (per module or global), parametrizations or computed weights anywhere in `model`: what the
    hand-derived step would silently skip. Pruning, for one, makes `weight` a tensor computed from
    `weight_orig` by a forward pre-hook; spectral or weight norm parametrize it."""
    from torch.nn.modules import module as module_globals
    from torch.nn.utils import parametrize

    if any(getattr(module_globals, name, None) for name in (
            "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
            "_global_backward_pre_hooks", "_global_forward_hooks_always_called")):
        return False
    for module in model.modules():
        if any(getattr(module, name, None) for name in (
                "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")):
            return False
        if parametrize.is_parametrized(module):
            return False
        if type(module) is nn.Linear:
            own = dict(module.named_parameters(recurse=False))
            if set(own) != ({"weight", "bias"} if module.bias is not None else {"weight"}) \
                    or own["weight"] is not module.weight:
                return False
    return True


class ManualBackwardMLP:
    """Trains an MLP one batch at a time with a hand-derived backward pass; see the module docstring."""

    def __init__(self, layers: list, loss_grad: Callable):
        self.layers, self.loss_grad = layers, loss_grad
        *self.body, self.head = layers  # the head: the output Linear (build checks that the MLP ends with one)

    @classmethod
    def build(cls, model: nn.Module, loss_fn: nn.Module) -> "ManualBackwardMLP | None":
        """The hand-derived step for `model` and `loss_fn`, or None when either is outside its scope."""
        loss = _loss(loss_fn)
        if type(model) is not MLP or loss is None or not _plain(model):
            return None
        if not all(p.requires_grad and p.dtype == torch.float32 for p in model.parameters()):
            return None
        on_cuda = any(p.is_cuda for p in model.parameters())
        layers, seen_linear = [], False
        for layer in model.layers:
            if type(layer) is Dropout and on_cuda and layer.p > 0:
                return None  # the same draw on both paths, but not yet checked on a GPU: autograd there
            if type(layer) is nn.Linear:
                layers.append(_Linear(layer, needs_input_grad=seen_linear, head=layer is model.layers[-1]))
                seen_linear = True
            elif type(layer) is Dropout:
                after = layers[-1] if layers else None
                layers.append(_Dropout(layer, in_place=isinstance(after, _Activation) and after.output_read != "value"))
            elif (activation := _activation(layer)) is not None and layers and isinstance(layers[-1], _Linear):
                layers.append(activation)  # (right after a Linear, so an in-place activation is safe)
            else:  # BatchNorm, LayerNorm, anything new: autograd handles it
                return None
        if not layers or type(layers[-1]) is not _Linear:
            return None
        return cls(layers, loss)

    def __call__(self, optimizer: torch.optim.Optimizer, X_batch: torch.Tensor, y_batch: torch.Tensor,
                 clip_grad_norm: float | None = None, out: torch.Tensor | None = None,
                 optimizer_step: Callable[[], None] | None = None) -> torch.Tensor:
        """One optimisation step, as loop.train_step; returns the batch's logits (b, n_outputs).

        out: a (b, n_outputs) float32 tensor for the head to write the logits into (then returned), so that
        the loop collects an epoch's logits without a copy or a small tensor kept per step; None: a new tensor.
        optimizer_step: what updates the parameters, optimizer.step when None (the loop passes
        optim.direct_step(optimizer): the same update with less overhead).
        The loss value itself is not computed here: the loop takes the epoch's loss from all its logits at once.
        """
        with torch.no_grad():  # nothing to record: the backward pass below is written out
            # 1. Forward pass, keeping what each layer's backward needs: (b, features) -> (b, outputs).
            saved, logits = [], X_batch
            for layer in self.body:
                logits, keep = layer.forward(logits)
                saved.append(keep)
            logits, keep = self.head.forward(logits, out)
            saved.append(keep)
            # 2. Loss: its gradient with respect to the logits.
            grad = self.loss_grad(logits, y_batch)
            # 3 + 4. Backward pass, last layer first; each parameter's new gradient replaces the old one,
            # as zero_grad(set_to_none=True) followed by loss.backward() would leave it.
            for layer, keep in zip(reversed(self.layers), reversed(saved)):
                grad = layer.backward(grad, keep)
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], clip_grad_norm)
        # 5. Step: the configured optimizer's update, as in the autograd path.
        (optimizer_step or optimizer.step)()
        return logits
