"""Networks built from a ModelConfig: an MLP (no hidden layers = a linear model), the tabular recipe's
TabularMLP (periodic embeddings and a per-feature scale in front of an MLP), an Ensemble of either, the small
CNN of image data (models_cnn.py) or the user's nn.Module.

Every model maps (n_samples, n_features) float32 to (n_samples, n_outputs) logits; no softmax or sigmoid.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

import numpy as np
import torch
from torch import nn

from .config import ModelConfig
from .errors import ConfigError
from .models_binned import binned_embedding, periodic, use_fast_path
from .models_cnn import SmallCNN

ACTIVATION_LAYERS = {
    "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid,
}
# Periodic embeddings (RealMLP's PBLD): N_FREQUENCIES cosines per input, frequencies drawn N(0, SIGMA^2), mixed
# by a per-input linear map into EMBED_DIM - 1 numbers beside the input itself. Past MAX_EMBEDDED inputs
# (free text's thousands of TF-IDF columns) the embeddings cost more than they can add: inputs go in as they are.
N_FREQUENCIES, SIGMA, EMBED_DIM, MAX_EMBEDDED = 16, 0.1, 4, 512
# Quantile bins per number column for the ensemble's piecewise members (PiecewiseLinear; docs/quality.md).
PIECEWISE_BINS = 16
PIECEWISE_ROWS = 100_000  # training rows the bins are taken from (a seeded sample past it: quantiles settle)


def dropout_mask(shape: torch.Size, p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An inverted-dropout mask of `shape`: 0 with probability p, else 1/(1-p); draws shape's numbers.

    Drawn as uniform numbers >= p rather than by bernoulli_, which on CPU costs ~2.5x more per element
    (docs/benchmarks.md, issue 19); the hand-derived backward (engine/manual_backward.py) calls this same
    function, so both paths consume the global stream alike and drop the same units.
    """
    if p >= 1:
        return torch.zeros(shape, dtype=dtype, device=device)
    if dtype in (torch.bfloat16, torch.float16):  # (bf16's 8-bit uniforms kept 98.8% at p=0.01, not 99%)
        return torch.empty(shape, device=device).uniform_().ge_(p).mul_(1 / (1 - p)).to(dtype)
    return torch.empty(shape, dtype=dtype, device=device).uniform_().ge_(p).mul_(1 / (1 - p))


class Dropout(nn.Module):
    """Inverted dropout, a drop-in for nn.Dropout(p) with a cheaper mask (`dropout_mask`); identity in eval mode.

    (n, ...) -> (n, ...): each element kept with probability 1-p and scaled by 1/(1-p). No parameters or
    buffers, so state_dicts written with nn.Dropout load unchanged.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x.shape, self.p, x.dtype, x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Module):
    """Linear -> [norm] -> activation -> [dropout], repeated per hidden width, then a Linear head.

    hidden=[] gives logistic/softmax regression: a single Linear(n_features, n_outputs).
    """

    def __init__(self, n_features: int, n_outputs: int, hidden: list[int] = (), activation: str = "relu",
                 dropout: float = 0.0, norm: str = "none"):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(size))
            elif norm == "layer":
                layers.append(nn.LayerNorm(size))
            layers.append(ACTIVATION_LAYERS[activation]())
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.layers(X)  # (n, n_features) -> (n, n_outputs) logits


class PeriodicEmbedding(nn.Module):
    """(n, F) -> (n, F * EMBED_DIM): each input x_f becomes [x_f, W_f cos(2 pi w_f x_f + b_f) + c_f].

    w_f: (K,) frequencies ~ N(0, sigma^2); b_f: (K,) phases ~ U(-pi, pi); W_f: (K, D - 1), one map per input.
    Keeping x_f itself (the "densenet" part) lets the network start from the plain input.
    """

    def __init__(self, n_features: int, n_frequencies: int = N_FREQUENCIES, sigma: float = SIGMA,
                 embed_dim: int = EMBED_DIM):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_features, n_frequencies) * sigma)
        self.phases = nn.Parameter(torch.empty(n_features, n_frequencies).uniform_(-torch.pi, torch.pi))
        bound = n_frequencies ** -0.5  # nn.Linear's default range for K inputs
        self.weight = nn.Parameter(torch.empty(n_features, n_frequencies, embed_dim - 1).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, embed_dim - 1).uniform_(-bound, bound))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return periodic(X, self.frequencies, self.phases, self.weight, self.bias).flatten(1)  # (n, F * D)


class PiecewiseLinear(nn.Module):
    """(n, F) -> (n, F + N * bins): the inputs, then each of N number inputs read in `bins` quantile bins.

    Bin t of number j reads (x - lo[j, t]) * inv_width[j, t] clipped to [0, 1]: 0 below the bin, 1 past it,
    where x lies inside it in between (the piecewise-linear encoding of Gorishniy et al., 2022). It hands
    the network a tree's view of a number: which quantile bin, and where inside it; the input itself stays
    beside it. Buffers, not parameters: `columns` (N,) the inputs read, `lo` and `inv_width` (N, bins)
    set by fit() from training rows. A bin a column lacks (fewer distinct values than bins) reads 0.
    """

    def __init__(self, columns: list[int], bins: int = PIECEWISE_BINS):
        super().__init__()
        self.register_buffer("columns", torch.as_tensor(list(columns), dtype=torch.int64))
        self.register_buffer("lo", torch.zeros(len(columns), bins))
        self.register_buffer("inv_width", torch.zeros(len(columns), bins))

    @torch.no_grad()
    def fit(self, X: torch.Tensor) -> None:
        """Bin edges at the quantiles 0, 1/bins, ..., 1 of each read column of X (n, F), the training rows.

        Tied quantiles (a count's repeated values) merge into one edge, ties judged in the buffers' dtype:
        quantiles distinct in float64 but one float32 step apart would otherwise make bins that overlap
        (`tiles` false). A column left with fewer than two bins (one or two distinct values, already said by
        the input itself) reads 0 in every bin."""
        levels = torch.linspace(0, 1, self.lo.shape[1] + 1, dtype=torch.float64)
        quantiles = torch.quantile(X[:, self.columns.cpu()].double().cpu(), levels, dim=0)  # (bins + 1, N)
        self.lo.zero_(), self.inv_width.zero_()
        for j in range(len(self.columns)):
            edges = quantiles[:, j].unique()  # sorted, ascending
            stored = edges.to(self.lo.dtype)
            if bool((stored[1:] == stored[:-1]).any()):  # near-ties: the edges as stored, deduplicated
                edges = stored.unique().double()  # (else the float64 edges, as fits before this rule made them)
            if len(edges) >= 3:
                k = len(edges) - 1
                self.lo[j, :k] = edges[:-1].to(self.lo)
                self.inv_width[j, :k] = (1 / edges.diff()).to(self.lo)

    def tiles(self) -> bool:
        """Whether each column's used bins (inv_width > 0) come first and lie end to end, each ending within a
        thousandth of the next one's width of where it starts: what models_binned assumes. fit() makes them
        so but for near-ties at float32's resolution; a model file's buffers are checked, not trusted.

        Asked every forward pass, answered once per state of the buffers (their storage and version counters:
        fit, load_state_dict and any in-place edit move them), so a training step does not wait for it."""
        buffers = (self.lo, self.inv_width)
        key = None if any(b.is_inference() for b in buffers) else tuple((b.data_ptr(), b._version) for b in buffers)
        cached = self.__dict__.get("_tiles")  # a plain attribute: the state_dict holds what it held before
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        used = self.inv_width > 0  # (N, bins)
        ends = self.lo[:, :-1] + 1 / self.inv_width[:, :-1].clamp(min=torch.finfo(self.lo.dtype).tiny)
        gap = (ends - self.lo[:, 1:]).abs() * self.inv_width[:, 1:]  # (N, bins - 1) in the next bin's widths
        tiled = bool(((used[:, 1:] <= used[:, :-1]) & (~used[:, 1:] | (gap <= 1e-3))).all())
        self.__dict__["_tiles"] = (key, tiled)
        return tiled

    def bins(self, X: torch.Tensor) -> torch.Tensor:
        """(n, F) -> (n, N, bins): each read number's bins."""
        return ((X[:, self.columns].unsqueeze(-1) - self.lo) * self.inv_width).clamp(0, 1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.cat([X, self.bins(X).flatten(1)], dim=1)  # (n, F + N * bins)


class FeatureScale(nn.Module):
    """(n, F) -> (n, F) times a learned per-input scale (starts at 1): the network can turn an input down or
    up before the first layer mixes them, which weight decay on that layer alone does poorly."""

    def __init__(self, n_features: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n_features))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X * self.scale


def binned_inputs(n_features: int, n_numbers: int) -> int:
    """The inputs a piecewise member reads: n_features, then PIECEWISE_BINS bins per number input."""
    return n_features + n_numbers * PIECEWISE_BINS


def embedded_width(n_features: int) -> int:
    """The numbers TabularMLP's first layer reads: EMBED_DIM per input, or the inputs as they are past MAX_EMBEDDED."""
    return n_features * EMBED_DIM if n_features <= MAX_EMBEDDED else n_features


class TabularMLP(MLP):
    """The tabular recipe's network: [PiecewiseLinear] -> [PeriodicEmbedding] -> FeatureScale -> the MLP's layers.

    numbers: the inputs that are number columns, for a member that also reads them in quantile bins
    (PiecewiseLinear); () for one that reads the inputs as they are. Embeddings apply to every input
    (numbers, their bins, one-hot columns, missing indicators) when there are at most MAX_EMBEDDED of them;
    they cost 16 cosines per input per row.
    """

    FLOW = ("piecewise", "embedding", "scale", "layers")  # forward's order (summarize); registered after `layers`

    def __init__(self, n_features: int, n_outputs: int, hidden: list[int] = (), activation: str = "relu",
                 dropout: float = 0.0, norm: str = "none", numbers: list[int] = ()):
        n_inputs = binned_inputs(n_features, len(numbers))
        width = embedded_width(n_inputs)
        super().__init__(width, n_outputs, hidden, activation, dropout, norm)
        self.piecewise = PiecewiseLinear(numbers) if numbers else nn.Identity()
        self.embedding = PeriodicEmbedding(n_inputs) if width != n_inputs else nn.Identity()
        self.scale = FeatureScale(width)

    @property
    def binned_fast(self) -> bool:
        """Whether this member embeds its bins with models_binned.binned_embedding (most bins read 0 or 1)."""
        return isinstance(self.piecewise, PiecewiseLinear) and isinstance(self.embedding, PeriodicEmbedding)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if self.binned_fast and use_fast_path() and self.piecewise.tiles():  # the same numbers, less work
            return self.layers(self.scale(binned_embedding(X, self.piecewise, self.embedding)))
        X = self.piecewise(X)  # (n, n_features) -> (n, n_features + N * bins)
        return self.layers(self.scale(self.embedding(X)))  # -> (n, n_outputs) logits


class Ensemble(nn.Module):
    """k networks whose logits are averaged: (n, F) -> (n, n_outputs), the mean of the members' (n, n_outputs).

    In training mode each row of a batch goes to one member (`assign`): member i trains on its own rows with
    its own loss, as k separate fits on batches of about b/k rows would, so the members stay as different as
    independently trained networks; the returned (b, n_outputs) logits are each row's own member's. One
    module, one optimizer, one loop: save/load, resume and DDP work as for one network. In eval mode every
    member sees every row.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))  # training batches seen so far

    def assign(self, X: torch.Tensor) -> torch.Tensor:
        """(b, F) -> (b,) each row's member for this step, 0..k-1: a hash of the row's float32 bits and the
        step count, so a row meets every member over the epochs, and the draw depends on neither the row's
        place in the batch nor a random stream: under DDP each process assigns its shard's rows as one
        process would assign the whole batch, and resuming (the count is in the state) assigns as before."""
        bits = X.detach().float().contiguous().view(torch.int32).to(torch.int64)  # (b, F)
        key = (X.shape[1], X.device)
        # The column multipliers per (F, device), made on first use: a plain attribute, not a buffer, so that
        # the state_dict and model file hold what they held before (and an Ensemble pickled without it works).
        cache = self.__dict__.setdefault("_multipliers", {})
        odd = cache.get(key)
        if odd is None:  # built once, not every training batch (two small kernels a step on a GPU)
            odd = cache[key] = torch.arange(1, 2 * X.shape[1], 2, device=X.device) * 0x2545F491  # (F,)
        h = (bits * odd).sum(1) + self.steps * 0x9E3779B1  # (b,) int64, wrapping
        h = (h ^ (h >> 29)) * 0x5851F42D4C957F2D  # mix the bits so that the low ones depend on all of them
        return ((h ^ (h >> 32)) >> 8).remainder(len(self.members))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return torch.stack([member(X) for member in self.members]).mean(0)  # (k, n, out) -> (n, out)
        member_of = self.assign(X)
        self.steps += 1
        order = member_of.argsort(stable=True)  # (b,) the rows grouped by member, each group in batch order
        sizes = torch.bincount(member_of, minlength=len(self.members)).tolist()  # one host sync a step
        parts = [member(rows) for member, rows in zip(self.members, X[order].split(sizes))]
        back = torch.empty_like(order)
        back[order] = torch.arange(len(order), device=order.device)  # the inverse permutation, without a sort
        return torch.cat(parts)[back]  # (b, out): each row's logits from its own member


def make_model(config: ModelConfig, n_features: int, n_outputs: int, allow_custom: bool = True,
               image_shape: tuple[int, int, int] | None = None, numbers: list[int] = ()) -> nn.Module:
    """Build the network for n_features inputs and n_outputs logits.

    numbers: the inputs that are number columns (Preprocessor.number_inputs), which the last
    config.piecewise members of a tabular ensemble also read in quantile bins; their bins are set by
    make_fitted_model from the training rows (a loaded model file brings its own).

    image_shape: (C, H, W) when the inputs are images (n_features = C*H*W, flat): the small CNN with
    config.conv's widths, or the MLP on the pixels for conv=[].
    A custom class ("package.module:ClassName") is imported and called as Class(n_features=, n_outputs=),
    plus image_shape= for images when its __init__ takes it; it receives the flat rows either way.
    allow_custom=False refuses it: importing a module runs its code, so a loaded model file may only name
    one when the user has said they trust it.
    """
    if config.custom:
        if not allow_custom:
            raise ConfigError(f"this model uses the custom class {config.custom!r}; importing it runs code, so "
                              "pass trust_custom_model=True (CLI: --trust-custom-model) if you trust it")
        klass = _import_custom(config.custom)
        try:
            signature = inspect.signature(klass)
            signature.bind(n_features=n_features, n_outputs=n_outputs)
        except (TypeError, ValueError):
            raise ConfigError(f"--model {config.custom}: its __init__ must take n_features= and n_outputs= (it is "
                              f"called as {klass.__name__}(n_features=..., n_outputs=...))") from None
        if image_shape is not None and "image_shape" in signature.parameters:
            return klass(n_features=n_features, n_outputs=n_outputs, image_shape=tuple(image_shape))
        return klass(n_features=n_features, n_outputs=n_outputs)
    if image_shape is not None and config.conv:
        return SmallCNN(image_shape, n_outputs, list(config.conv), config.dropout)
    if config.recipe != "tabular":
        members = [MLP(n_features, n_outputs, list(config.hidden), config.activation, config.dropout, config.norm)
                   for _ in range(config.members or 1)]  # (None: a model file from before ensembles, one network)
        return members[0] if len(members) == 1 else Ensemble(members)
    k = config.members or 1
    plain = k - (config.piecewise or 0)  # (None: a model file from before piecewise members, none of them)
    members = [TabularMLP(n_features, n_outputs, list(config.hidden), config.activation, config.dropout, config.norm,
                          numbers=() if i < plain else list(numbers)) for i in range(k)]
    return members[0] if len(members) == 1 else Ensemble(members)


def make_fitted_model(config: ModelConfig, preprocessor, n_outputs: int,
                      training_sample: Callable[[int], np.ndarray]) -> nn.Module:
    """make_model for a prepared table's preprocessor, its piecewise bins set from training rows:
    training_sample(max_rows) -> (m, n_features) float32 of at most max_rows of them, called only when
    the model has bins to set. Draws no random numbers beyond make_model's (seeded streams stay as they were)."""
    numbers = getattr(preprocessor, "number_inputs", [])  # (images: none)
    model = make_model(config, preprocessor.n_features_out, n_outputs,
                       image_shape=getattr(preprocessor, "image_shape", None), numbers=numbers)
    binned = [module for module in model.modules() if isinstance(module, PiecewiseLinear)]
    if binned:
        X = torch.from_numpy(training_sample(PIECEWISE_ROWS))
        for module in binned:
            module.fit(X)
    return model


def _import_custom(spec: str) -> type[nn.Module]:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"--model {spec!r} must look like package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if err.name and err.name != module_name and not module_name.startswith(err.name + "."):
            raise ConfigError(f"{module_name!r} for --model imports {err.name!r}, which is not installed: install it "
                              "(or remove the import)") from None
        raise ConfigError(f"cannot import {module_name!r} for --model ({err}); is it on PYTHONPATH?") from None
    klass = getattr(module, class_name, None)
    if not (isinstance(klass, type) and issubclass(klass, nn.Module)):
        raise ConfigError(f"{spec!r} is not an nn.Module class")
    return klass


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summarize(model: nn.Module) -> list[dict]:
    """One row per leaf layer, in the order a row passes through them: name, type, details, parameter count.

    Registration order is not always that order (TabularMLP registers its MLP layers before the embeddings
    that feed them); a module's FLOW, the names of its children in forward order, corrects it.
    """
    rows = []
    for name, module in _leaves(model, ""):
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append({"layer": name or type(module).__name__, "type": type(module).__name__,
                     "details": module.extra_repr(), "parameters": params})
    return rows


def _leaves(module: nn.Module, prefix: str, seen=None):
    """(name, leaf module) pairs depth first, each module's children in its FLOW order (else as registered)."""
    seen = set() if seen is None else seen
    if not list(module.children()):
        if id(module) not in seen:  # (a module used twice is listed once, as named_modules does)
            seen.add(id(module))
            yield prefix, module
        return
    flow = getattr(module, "FLOW", ())
    children = sorted(module.named_children(), key=lambda item: flow.index(item[0]) if item[0] in flow else len(flow))
    for name, child in children:  # (a stable sort: children not in FLOW keep their registration order)
        yield from _leaves(child, f"{prefix}.{name}" if prefix else name, seen)
