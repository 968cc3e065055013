"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable

import torch
from torch.optim import optimizer as optimizer_module  # (its global step-hook registries)

from ..config import TrainConfig


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam, AdamW or RMSprop at config.lr with config.weight_decay.

    SGD, Adam and AdamW use the fused kernels (one native call updates every parameter) on CPU and CUDA;
    RMSprop, and parameters elsewhere, use foreach. On small models the per-parameter Python loop of the
    default implementation is a large share of each step (Adam: ~2x slower per step on the circles net).
    """
    params = list(params)
    fused_ok = config.optimizer != "rmsprop" and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    kw = {"lr": config.lr, "weight_decay": config.weight_decay}
    kw.update({"fused": True} if fused_ok else {"foreach": True})
    if config.optimizer in ("adam", "adamw"):
        kw["betas"] = (0.9, config.beta2)
    with dynamo_unimported():
        if config.optimizer == "sgd":
            return torch.optim.SGD(params, momentum=config.momentum, **kw)
        if config.optimizer == "adam":
            return torch.optim.Adam(params, **kw)
        if config.optimizer == "adamw":
            return torch.optim.AdamW(params, **kw)
        return torch.optim.RMSprop(params, momentum=config.momentum, **kw)


# The Optimizer methods torch wraps in torch._disable_dynamo, whose first call imports torch._dynamo.
_DYNAMO_DISABLED = ("add_param_group", "state_dict", "load_state_dict", "zero_grad")


@contextlib.contextmanager
def dynamo_unimported():
    """Run the block with torch.optim.Optimizer's construction, state_dict and load_state_dict not importing
    torch._dynamo, when nothing has imported it yet (on a torch release in CHECKED_TORCH).

    Why: those methods are wrapped in torch._disable_dynamo, which imports torch._dynamo (~1-1.5 s,
    docs/benchmarks.md "Start-up") on its first call only to mark them as not to be traced. While
    torch._dynamo is not imported nothing can be tracing, so calling the plain methods does the same. The
    wrapper's own cache (the function's `__dynamo_disable`) is set to the plain method for the block and
    removed after it, so that a later torch.compile sees torch's wrapping unchanged.
    """
    if "torch._dynamo" in sys.modules or not torch_checked():
        yield
        return
    plain = [getattr(getattr(torch.optim.Optimizer, name), "__wrapped__", None) for name in _DYNAMO_DISABLED]
    plain = [fn for fn in plain if fn is not None and getattr(fn, "__dynamo_disable", None) is None]
    for fn in plain:
        fn.__dynamo_disable = fn
    try:
        yield
    finally:
        for fn in plain:
            if getattr(fn, "__dynamo_disable", None) is fn:
                del fn.__dynamo_disable


# torch releases whose private fused kernels (torch._fused_sgd_ / _fused_adam_ / _fused_adamw_) direct_step
# was checked against (tests/test_optim.py: bit-identical to optimizer.step()). On any other release the
# wrapper's optimizer.step() runs instead: private signatures may change without notice.
CHECKED_TORCH = ("2.13",)


def direct_step(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """`optimizer.step`, or, for the fused SGD / Adam / AdamW of make_optimizer on a torch release in
    CHECKED_TORCH, a call of the same fused kernel with the same arguments, without the wrapper around it.

    Why: torch.optim's step() surrounds its kernel with a profiler record, hook loops, grad-mode switches
    and a per-call regrouping of the tensors by device and dtype, which on a small network costs more than
    the kernel itself (docs/benchmarks.md). The update is the kernel's, so the parameters and the
    optimizer's state are bit-identical to step()'s. Anything else - hooks, AMP's grad scaling, a tensor
    lr, several devices or dtypes, a parameter without a gradient, and the first step, which creates the
    state - goes through optimizer.step().
    """
    kind = type(optimizer)
    if kind not in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW) or not torch_checked():
        return optimizer.step
    if not all(hasattr(torch, name) for name in ("_fused_sgd_", "_fused_adam_", "_fused_adamw_")):
        return optimizer.step  # a torch without these private kernels
    if getattr(optimizer, "grad_scale", None) is not None or getattr(optimizer, "found_inf", None) is not None:
        return optimizer.step
    for group in optimizer.param_groups:
        if not group.get("fused") or group.get("differentiable") or group.get("capturable"):
            return optimizer.step
    return _DirectFusedStep(optimizer)


def torch_checked(version: str | None = None) -> bool:
    """Whether this torch release (major.minor) is one direct_step was checked on."""
    version = version or torch.__version__
    return ".".join(version.split("+")[0].split(".")[:2]) in CHECKED_TORCH


class _DirectFusedStep:
    """Calls torch._fused_sgd_ / _fused_adam_ / _fused_adamw_ as SGD.step / Adam.step do for fused=True."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer, self.sgd = optimizer, type(optimizer) is torch.optim.SGD
        # The param group's parameters and their state tensors by name, as read from `state_read`
        # (load_state_dict replaces optimizer.state, which makes them stale).
        self.params, self.state, self.state_read = [], {}, None
        self.stepped = False  # the first step goes through step(): it makes the state, and LR schedulers
        # (which wrap optimizer.step) warn when they step before it has ever been called
        self.direct_failed = False  # this torch's kernel refused the arguments: step() from then on

    def __call__(self) -> None:
        if not self.stepped and self._make_first_state():
            self.stepped = True
        grads = self._direct_grads()
        if grads is None:
            self.stepped = True
            self.optimizer.step()
            return
        try:
            self._update(self.optimizer.param_groups[0], grads)
        except TypeError:  # another torch's private kernel signature, refused before any update
            self.direct_failed = True
            self.optimizer.step()

    def _direct_grads(self) -> list[torch.Tensor] | None:
        """The gradients, when step() would now make exactly the kernel call of _update: state made, no hooks,
        one param group (make_optimizer's: a refused kernel then has updated nothing) with plain-number
        options, every gradient there; else None. Re-reads the state when it is stale."""
        optimizer = self.optimizer
        if self.direct_failed or not self.stepped or self._hooked() or len(optimizer.param_groups) != 1:
            return None
        group = optimizer.param_groups[0]
        if not _floats(group):
            return None
        if self.state_read is not optimizer.state or len(self.params) != len(group["params"]) or (
                tuple(self.state) != self._state_names(group)):  # e.g. momentum or amsgrad switched on
            if not self._read_state(group):
                return None
        grads = [p.grad for p in self.params]
        return None if any(g is None for g in grads) else grads

    def _update(self, group: dict, grads: list[torch.Tensor]) -> None:
        params, state = self.params, self.state
        if self.sgd:
            torch._fused_sgd_(params, grads, state.get("momentum_buffer", []),
                              weight_decay=group["weight_decay"], momentum=group["momentum"], lr=group["lr"],
                              dampening=group["dampening"], nesterov=group["nesterov"],
                              maximize=group["maximize"], is_first_step=False, grad_scale=None, found_inf=None)
            return
        torch._foreach_add_(state["step"], 1)
        kernel = torch._fused_adamw_ if self._decoupled(group) else torch._fused_adam_
        beta1, beta2 = group["betas"]
        try:
            kernel(params, grads, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq", []),
                   state["step"], amsgrad=group["amsgrad"], lr=group["lr"], beta1=beta1, beta2=beta2,
                   weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                   grad_scale=None, found_inf=None)
        except TypeError:
            torch._foreach_sub_(state["step"], 1)  # undone, so that step() counts this step once
            raise

    def _make_first_state(self) -> bool:
        """Adam's and AdamW's state as their first step() makes it (Adam._init_group with fused=True: a float32
        step count of 0 and zero moments per parameter), so that the first step too is the kernel's call; False
        (step() makes it) for SGD, a state already there, a step() an LR scheduler counts, or anything
        _read_state refuses. Why: step() imports torch._dynamo on its first call (dynamo_unimported)."""
        optimizer = self.optimizer
        if (self.sgd or optimizer.state or self._hooked() or len(optimizer.param_groups) != 1
                or hasattr(optimizer.step, "_wrapped_by_lr_sched") or not _floats(optimizer.param_groups[0])):
            return False
        group = optimizer.param_groups[0]
        params = list(group["params"])
        if (not params or not all(key in group for key in _ADAM_KEYS) or group.get("capturable")
                or any(p.grad is None or p.grad.is_sparse or p.device != params[0].device
                       or p.dtype != params[0].dtype for p in params)):
            return False
        for p in params:
            state = optimizer.state[p]
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            for name in self._state_names(group)[1:]:
                state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return True

    def _state_names(self, group: dict) -> tuple:
        """The per-parameter state the kernel takes for this group's options."""
        if self.sgd:
            return ("momentum_buffer",) if group["momentum"] else ()  # plain SGD keeps no state
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _decoupled(self, group: dict) -> bool:
        """AdamW's weight decay (a group option since torch 2.7; before, AdamW was a class of its own)."""
        return group.get("decoupled_weight_decay", type(self.optimizer) is torch.optim.AdamW)

    def _hooked(self) -> bool:
        return bool(self.optimizer._optimizer_step_pre_hooks or self.optimizer._optimizer_step_post_hooks
                    or optimizer_module._global_optimizer_pre_hooks or optimizer_module._global_optimizer_post_hooks)

    def _read_state(self, group: dict) -> bool:
        """Reads the group's parameters and the state tensors the kernel takes; False where the group lacks an
        option the kernel call reads (another torch version's), where step() does more than the one kernel
        call (several devices or dtypes, sparse gradients), or where a state is not made yet."""
        if not all(key in group for key in (_SGD_KEYS if self.sgd else _ADAM_KEYS)):
            return False
        names, params = self._state_names(group), list(group["params"])
        state = {name: [] for name in names}
        for p in params:
            if p.grad is None or p.grad.is_sparse or p.device != params[0].device or p.dtype != params[0].dtype:
                return False
            p_state = self.optimizer.state.get(p, {})  # (a defaultdict: .get does not add the parameter)
            for name in names:
                if not isinstance(p_state.get(name), torch.Tensor):
                    return False  # not made yet: the next step() makes it
                state[name].append(p_state[name])
        self.params, self.state, self.state_read = params, state, self.optimizer.state
        return True


_SGD_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
_ADAM_KEYS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")


def _floats(group: dict) -> bool:
    """lr and betas as plain numbers (step() treats tensor ones differently)."""
    return isinstance(group["lr"], float) and all(isinstance(b, float) for b in group.get("betas", ()))


def make_scheduler(optimizer, config: TrainConfig, n_epochs: int, steps_per_epoch: int):
    """The LR schedule and when it steps: returns (scheduler or None, "batch" | "epoch" | "plateau")."""
    name = config.schedule
    if name == "none":
        return None, "epoch"
    if name == "step":
        step_size = max(1, n_epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=0.1), "epoch"
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_epochs), "epoch"
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                   total_steps=n_epochs * steps_per_epoch), "batch"
    patience = max(2, (config.patience or 10) // 3)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.3, patience=patience), "plateau"
