"""Refuse a network too big for the machine before it is built: PyTorch would allocate the weights and the
kernel's out-of-memory killer would then end the process with no message at all."""

from __future__ import annotations

import torch

from ..errors import ConfigError

BYTES_PER_PARAMETER = 16  # float32 weights, their gradients and Adam's two moments: 4 copies of 4 bytes


def fully_connected_parameters(model_config, n_inputs: int, n_outputs: int, n_numbers: int = 0) -> int:
    """Weights and biases of the network's fully connected layers, every ensemble member's: the tabular
    recipe's first layer reads each embedded input's EMBED_DIM values, a piecewise member's also its
    n_numbers number inputs' bins. Counted, not built: building even on the meta device runs torch's
    random initialisers through code that imports torch._dynamo (~1 s)."""
    from ..models import binned_inputs, embedded_width

    def member(first: int) -> int:
        widths = [first, *(int(w) for w in model_config.hidden), int(n_outputs)]
        return sum(a * b + b for a, b in zip(widths, widths[1:]))

    if model_config.recipe != "tabular":
        return (model_config.members or 1) * member(int(n_inputs))
    piecewise = (model_config.piecewise or 0) if n_numbers else 0
    wide = member(embedded_width(binned_inputs(int(n_inputs), int(n_numbers))))
    return ((model_config.members or 1) - piecewise) * member(embedded_width(int(n_inputs))) + piecewise * wide


def available_bytes(device) -> int | None:
    """Memory free for training on device: MemAvailable on Linux, free CUDA memory; None when unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_network_fits(model_config, n_inputs: int, n_outputs: int, device, images: bool = False,
                       n_numbers: int = 0) -> None:
    """Raise ConfigError when the network's parameters alone would need more memory than the device has free.

    n_numbers: the number inputs a tabular ensemble's piecewise members read in bins.

    A custom module, or the small CNN of an image run, is not checked: only the fully connected stack.
    """
    if model_config.custom or (images and model_config.conv):
        return
    n_parameters = fully_connected_parameters(model_config, n_inputs, n_outputs, n_numbers)
    needed = n_parameters * BYTES_PER_PARAMETER
    free = available_bytes(device)
    if free is None or needed <= free:
        return
    widths = ",".join(str(w) for w in model_config.hidden)
    raise ConfigError(f"--hidden {widths} on {n_inputs} inputs makes {n_parameters / 1e6:,.0f} million parameters: "
                      f"training them needs at least {needed / 2**30:,.1f} GiB and the {_kind(device)} has "
                      f"{free / 2**30:,.1f} GiB free - choose smaller --hidden widths")


def _kind(device) -> str:
    return "GPU" if str(device).startswith("cuda") else "machine"
