"""Hostile model folders: each tampered file is refused with a one-line ModelFileError and runs no code.

Every pickle payload here would create a marker file if it were ever unpickled; the marker must not appear.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import resource
import shutil
import struct
from pathlib import Path

import pytest
import torch

import torchclassify as tc
from torchclassify.classifier import load_model
from torchclassify.errors import ModelFileError

PACKAGE = Path(tc.__file__).parent


class Payload:
    """Unpickling this calls Path.touch(marker): the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    tc.train(data="circles", n_samples=120, hidden=[4], epochs=2, progress="quiet", out=out)
    return out


@pytest.fixture
def folder(trained, tmp_path) -> Path:
    copy = tmp_path / "inside" / "model"
    shutil.copytree(trained, copy)
    return copy


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "CODE_RAN"


def refused(folder: Path, match: str) -> str:
    """Load must raise ModelFileError matching `match`, with a one-line message; returns it."""
    before = sorted(p.name for p in folder.parent.parent.rglob("*"))
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(folder)
    message = str(info.value)
    assert "\n" not in message
    # Loading writes nothing, inside the folder or beside it.
    assert sorted(p.name for p in folder.parent.parent.rglob("*")) == before
    return message


def header_of(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_untampered_folder_loads(folder):
    """The control: the same folder, untouched, loads and predicts."""
    import pandas as pd

    predicted = load_model(folder).predict(pd.DataFrame({"x0": [0.0, 0.9], "x1": [0.0, 0.1]}))
    assert set(predicted) <= {0, 1} and len(predicted) == 2


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_in_place_of_weights(folder, marker, writer):
    target = folder / "model.safetensors"
    if writer == "pickle":
        target.write_bytes(pickle.dumps({"weight": Payload(marker)}, protocol=2))
    else:
        torch.save({"weight": Payload(marker)}, target)
    refused(folder, "not a safetensors file|impossible header length")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.pt", "weights.pth", "extra.pkl", "model.ckpt", "pytorch_model.bin"])
def test_planted_pickle_file_beside_the_weights(folder, marker, name):
    with open(folder / name, "wb") as handle:
        pickle.dump(Payload(marker), handle)
    assert name in refused(folder, "pickle-based files are never loaded")
    assert not marker.exists()


def test_header_lies_about_a_shape(folder):
    header, data = header_of(folder / "model.safetensors")
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [100_000, 100_000]  # 40 GB if believed
    write_safetensors(folder / "model.safetensors", header, data)
    refused(folder, "claims shape")


def test_header_points_past_the_end_of_the_file(folder):
    header, data = header_of(folder / "model.safetensors")
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"][1] += 10**9
    write_safetensors(folder / "model.safetensors", header, data)
    refused(folder, "truncated or tampered")


def test_header_length_field_is_absurd(folder):
    raw = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 2**62) + raw[8:])
    refused(folder, "impossible header length")


def test_tensor_named_with_dot_dot_is_refused(folder):
    header, data = header_of(folder / "model.safetensors")
    name = next(k for k in header if k != "__metadata__")
    header[f"../../{name}"] = header.pop(name)
    write_safetensors(folder / "model.safetensors", header, data)
    refused(folder, "does not match the architecture")


@pytest.mark.parametrize("keep", [0.5, 0.01])
def test_truncated_weights(folder, keep):
    raw = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(raw[:int(len(raw) * keep)])
    refused(folder, "truncated|impossible header length|not a safetensors")


def test_symlinked_weights_are_refused(folder, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(folder / "model.safetensors", outside)
    os.symlink(outside, folder / "model.safetensors")
    refused(folder, "symbolic link")


def _edit_model_json(folder: Path, edit) -> None:
    raw = json.loads((folder / "model.json").read_text())
    edit(raw)
    (folder / "model.json").write_text(json.dumps(raw))


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.update(n_inputs="2"), "n_inputs must be a whole number"),
    (lambda r: r.update(n_inputs=True), "n_inputs must be a whole number"),
    (lambda r: r.update(n_outputs=10**12), "n_outputs must be a whole number"),
    (lambda r: r.update(threshold=float("nan")), "threshold"),
    (lambda r: r.update(task="regression"), "task must be"),
    (lambda r: r["labels"].update(classes=[{"a": 1}, [2]]), "classes must be strings or numbers"),
    (lambda r: r["model"].update(hidden=[10**9]), "invalid model section"),
    (lambda r: r["model"].update(hidden="64,64"), "invalid model section"),
    (lambda r: r["model"].update(unknown_key=1), "invalid model section"),
    (lambda r: r["preprocessing"]["numeric"][0].update(std="1"), "numeric column entry is malformed"),
    (lambda r: r.update(format_version=99), "format_version 99 is not supported"),
])
def test_model_json_with_wrong_types_or_huge_numbers(folder, edit, match):
    _edit_model_json(folder, edit)
    refused(folder, match)


def test_model_json_with_a_5000_digit_number(folder):
    text = (folder / "model.json").read_text().replace('"n_inputs": 2', '"n_inputs": 1' + "0" * 5000)
    (folder / "model.json").write_text(text)
    refused(folder, "not valid JSON")


def test_model_json_nested_a_million_deep(folder):
    (folder / "model.json").write_text("[" * 1_000_000 + "]" * 1_000_000)
    refused(folder, "not valid JSON|not a torchclassify model|more JSON values")


def test_huge_architecture_allocates_nothing(folder):
    """hidden 64 x 65536 with 10^6 inputs would be ~1 TB: it must be refused from the header, not allocated."""
    _edit_model_json(folder, lambda r: (r.update(n_inputs=10**6), r["model"].update(hidden=[65536] * 64)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(folder, "does not match the architecture")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512


def test_custom_class_is_not_imported_unless_trusted(folder, tmp_path, marker, monkeypatch):
    module = tmp_path / "evil_module_tc.py"
    module.write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\nclass Net: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _edit_model_json(folder, lambda r: r["model"].update(custom="evil_module_tc:Net"))
    refused(folder, "importing it runs code")
    assert not marker.exists()


def test_checkpoint_with_a_pickle_is_refused_on_resume(tmp_path, marker):
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "config.json").write_text(json.dumps(tc.RunConfig().to_dict()))
    torch.save({"model": Payload(marker)}, partial / "checkpoint.safetensors")
    with pytest.raises(ModelFileError, match="not a safetensors file|impossible header length"):
        tc.train(resume=tmp_path / "run", progress="quiet")
    assert not marker.exists()
    assert not (tmp_path / "run").exists()


def test_the_package_never_unpickles():
    """No module imports pickle-based loaders; torch.load, if ever used, passes weights_only=True."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                assert not {"pickle", "dill", "joblib", "cloudpickle", "shelve"} & {str(n).split(".")[0] for n in names}, path
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                assert any(k.arg == "weights_only" and getattr(k.value, "value", None) is True
                           for k in node.keywords), f"{path}: torch.load without weights_only=True"


def test_a_key_written_twice_is_refused_naming_the_key_and_the_file(folder, tmp_path):
    # Review: json keeps the last of two equal keys silently, so {"lr": 0.1, "lr": 0.2} trained at 0.2.
    from conftest import cli_in_process

    config = tmp_path / "run.json"
    config.write_text('{"train": {"lr": 0.1, "lr": 0.2, "epochs": 1}}')
    result = cli_in_process("train", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 2 and not (tmp_path / "run").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'lr' twice" in lines[0] and str(config) in lines[0]
    text = (folder / "model.json").read_text()
    (folder / "model.json").write_text(text.replace('"task":', '"task": "binary", "task":', 1))
    assert "'task' twice" in refused(folder, "model.json")


def test_a_save_stopped_between_the_two_files_is_refused(folder, monkeypatch):
    """New weights beside the model.json of the save before: the shapes match, so only the digest tells."""
    import torchclassify.classifier as classifier_module

    changed = load_model(folder)
    with torch.no_grad():
        next(changed.model.parameters()).add_(1.0)

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # what a Ctrl-C between the two writes looks like to the caller

    monkeypatch.setattr(classifier_module, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        changed.save(folder)
    assert "save the model again" in refused(folder, "is not the file model.json was saved with")
    monkeypatch.undo()
    changed.save(folder)  # the save finished: the pair loads and is the changed network
    reloaded = load_model(folder)
    assert torch.equal(next(reloaded.model.parameters()), next(changed.model.parameters()))


def test_weights_edited_in_place_are_refused(folder):
    raw = bytearray((folder / "model.safetensors").read_bytes())
    raw[-1] ^= 0x40  # one bit of the last weight: the header, every shape and offset still check out
    (folder / "model.safetensors").write_bytes(bytes(raw))
    refused(folder, "is not the file model.json was saved with")


def test_a_model_saved_before_the_digest_still_loads(folder):
    _edit_model_json(folder, lambda r: r.pop("weights_sha256"))
    load_model(folder)


@pytest.mark.parametrize("digest", [12, "ab" * 31, "G" * 64])
def test_a_malformed_digest_is_refused(folder, digest):
    _edit_model_json(folder, lambda r: r.update(weights_sha256=digest))
    refused(folder, "weights_sha256 must be 64 lowercase hex digits")
