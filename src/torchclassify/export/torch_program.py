"""The network as a `torch.export` program (a .pt2 file), its preprocessing, classes and threshold in JSON beside.

torch.export rather than TorchScript: TorchScript is in maintenance (torch's docs point to torch.export), and
a .pt2 program is what torch's own tools (AOTInductor, ExecuTorch, the ONNX exporter) start from. The
program maps (n, n_features) float32 preprocessed features to (n, n_outputs) logits; the preprocessing is
the Preprocessor's JSON state, as in model.json. Note that torch.export.load unpickles tensor subclasses and
script objects if a file holds any (a network from torchclassify holds none): load only .pt2 files you made.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import torch

from ..errors import ConfigError
from ..files import atomic_write, clean_for_json, write_json

FORMAT = "torchclassify-torch-program"
FORMAT_VERSION = 1


def export_program(model: torch.nn.Module, n_inputs: int) -> torch.export.ExportedProgram:
    """The network traced by torch.export with a dynamic batch size (n, n_inputs) -> (n, n_outputs)."""
    model = copy.deepcopy(model).cpu().eval()  # the caller's network stays where and as it was
    try:
        return torch.export.export(model, (torch.zeros(2, n_inputs),), dynamic_shapes=({0: torch.export.Dim("n")},))
    except Exception as err:  # torch.export raises assorted types for what it cannot trace
        raise ConfigError(f"torch.export cannot trace the network ({type(err).__name__}: {str(err)[:200]})") from None


def companion_path(path) -> Path:
    """model.pt2 -> model.preprocessing.json, the JSON beside the program."""
    path = Path(path)
    return path.with_name(f"{path.stem}.preprocessing.json")


def to_torch_program(classifier, path) -> tuple[Path, Path]:
    """Write the network's program at `path` and its preprocessing as JSON beside it; returns both paths."""
    pre = classifier.preprocessor
    program = export_program(classifier.model, pre.n_features_out)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    atomic_write(Path(path), buffer.getvalue())
    companion = companion_path(path)
    write_json(companion, clean_for_json({
        "format": FORMAT, "format_version": FORMAT_VERSION, "program": Path(path).name,
        "task": classifier.task_name, "classes": classifier.classes, "threshold": classifier.threshold,
        "input": f"(n, {pre.n_features_out}) float32: the raw columns through the preprocessing below",
        "output": f"(n, {classifier.task.n_outputs(classifier.labels.n_classes)}) float32 logits "
                  f"({'sigmoid' if classifier.task.uses_threshold else 'softmax'} gives the probabilities)",
        "feature_names": pre.feature_names_out,
        "preprocessing": pre.to_dict(),
    }))
    return Path(path), companion
