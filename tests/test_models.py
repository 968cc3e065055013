"""Models from a spec: MLP, linear, the user's own nn.Module; summaries."""

import sys
import textwrap

import pytest
import torch

import torchclassify as tc
from torchclassify.config import ModelConfig
from torchclassify.errors import ConfigError
from torchclassify.models import count_parameters, make_model, summarize


def test_mlp_shapes_and_parameter_count():
    model = make_model(ModelConfig(hidden=[8, 4], norm="batch", dropout=0.1), n_features=3, n_outputs=2)
    assert model(torch.randn(5, 3)).shape == (5, 2)
    # (3*8+8) + bn 16 + (8*4+4) + bn 8 + (4*2+2)
    assert count_parameters(model) == 32 + 16 + 36 + 8 + 10
    assert [row["type"] for row in summarize(model)][:2] == ["Linear", "BatchNorm1d"]


def test_linear_model_has_one_layer():
    model = make_model(ModelConfig(hidden=[]), 4, 1)
    assert [row["type"] for row in summarize(model)] == ["Linear"]


def test_custom_module(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(textwrap.dedent("""
        import torch
        class Wide(torch.nn.Module):
            def __init__(self, n_features, n_outputs):
                super().__init__()
                self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 32), torch.nn.Tanh(),
                                                torch.nn.Linear(32, n_outputs))
            def forward(self, X):
                return self.body(X)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tc.train(data="moons", custom="mynets:Wide", epochs=20, progress="quiet", out=tmp_path / "run")
    assert run.metrics["test"]["accuracy"] > 0.85
    with pytest.raises(tc.ModelFileError, match="trust_custom_model"):
        tc.load(tmp_path / "run")
    loaded = tc.load(tmp_path / "run", trust_custom_model=True)
    X = run.classifier.predict_proba(torch.zeros(3, 2).numpy())
    assert (loaded.predict_proba(torch.zeros(3, 2).numpy()).values == X.values).all()
    sys.modules.pop("mynets", None)


@pytest.mark.parametrize("spec,message", [("nocolon", "package.module:ClassName"),
                                          ("no_such_module_xyz:Net", "cannot import"),
                                          ("torch:tensor", "not an nn.Module")])
def test_bad_custom_module(spec, message):
    with pytest.raises(ConfigError, match=message):
        make_model(ModelConfig(custom=spec), 2, 1)
