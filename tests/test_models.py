"""Models from a spec: MLP, linear, the user's own nn.Module; summaries."""

import sys
import textwrap

import pytest
import torch

import torchclassify as tc
from torchclassify.config import ModelConfig
from torchclassify.errors import ConfigError
from torchclassify.models import MLP, Dropout, count_parameters, make_model, summarize


def test_mlp_shapes_and_parameter_count():
    model = make_model(ModelConfig(hidden=[8, 4], norm="batch", dropout=0.1), n_features=3, n_outputs=2)
    assert model(torch.randn(5, 3)).shape == (5, 2)
    # (3*8+8) + bn 16 + (8*4+4) + bn 8 + (4*2+2)
    assert count_parameters(model) == 32 + 16 + 36 + 8 + 10
    assert [row["type"] for row in summarize(model)][:2] == ["Linear", "BatchNorm1d"]


def test_dropout_keeps_about_1_minus_p_of_units_scaled_and_is_the_identity_in_eval():
    torch.manual_seed(0)
    layer = Dropout(0.3)
    x = torch.ones(200, 500, requires_grad=True)
    y = layer(x)
    kept = y != 0
    # 100,000 units: the kept share's standard deviation is ~0.0015
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.01)
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()  # the gradient goes through the kept units only, with the same scale
    assert torch.equal(x.grad, y.detach())
    torch.manual_seed(0)
    assert torch.equal(layer(x), y)  # the mask is the seed's
    assert not torch.equal(layer(x), y)  # and a new one each call
    layer.eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_dropout_adds_no_state_so_mlp_files_from_nn_dropout_still_load():
    model = MLP(4, 3, [8, 8], dropout=0.2)
    assert [type(layer).__name__ for layer in model.layers].count("Dropout") == 2
    old = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 8),
                              torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 3))
    model.layers.load_state_dict(old.state_dict())  # strict: the same keys
    x = torch.randn(5, 4)
    assert torch.equal(model.eval()(x), old.eval()(x))


def test_the_summary_lists_layers_in_the_order_a_row_passes_through_them():
    # The tabular network registers its MLP layers first; the setup line read "Linear -> ... -> FeatureScale".
    from torchclassify.models import Ensemble, TabularMLP
    from torchclassify.workflow.training import describe_setup

    member = TabularMLP(3, 2, [8], numbers=[0, 1])
    assert [row["layer"] for row in summarize(member)] == ["piecewise", "embedding", "scale", "layers.0", "layers.1",
                                                           "layers.2"]
    ensemble = Ensemble([TabularMLP(3, 2, [8]), TabularMLP(3, 2, [8], numbers=[0])])
    rows = summarize(ensemble)
    assert [row["layer"] for row in rows][:5] == ["members.0.piecewise", "members.0.embedding", "members.0.scale",
                                                  "members.0.layers.0", "members.0.layers.1"]
    assert count_parameters(ensemble) == sum(row["parameters"] for row in rows)  # every layer listed once
    config = tc.config.make_config(members=2)
    summary = {"split_sizes": {"train": 8, "valid": 2, "test": 2}, "layers": rows, "dataset": "t", "n_rows": 12,
               "n_columns": 3, "n_inputs": 3, "task": "binary", "classes": ["a", "b"], "network": "Ensemble",
               "parameters": count_parameters(ensemble), "device": "cpu"}
    line = next(line for line in describe_setup(summary, config).splitlines() if line.startswith("model"))
    assert "averaged: PeriodicEmbedding -> FeatureScale -> Linear(in_features=12, out_features=8" in line
    assert "Identity" not in line  # (the first member reads no bins: a step it leaves out)
    # The train line names a learning-rate schedule when one runs, and none when the rate stays constant.
    train_line = lambda config: next(  # noqa: E731
        line for line in describe_setup(summary, config).splitlines() if line.startswith("train"))
    assert "schedule" not in train_line(config)
    assert train_line(tc.config.make_config(schedule="cosine")).endswith(
        "epochs, cosine learning-rate schedule")


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


def test_a_network_too_big_for_the_free_memory_is_refused_before_it_is_built(monkeypatch, tmp_path):
    # Review: --hidden 65536,65536 allocated 17 GB of weights and the process was OOM-killed with no message.
    from torchclassify.engine import budget

    # What is counted is the network's layers as built: the tabular recipe's 4 members and wider first layer.
    layers = [p for name, p in make_model(ModelConfig(hidden=(64,), recipe="tabular", members=1), 10, 2).named_parameters()
              if name.startswith("layers.")]
    assert budget.fully_connected_parameters(ModelConfig(hidden=(64,), recipe="tabular", members=4), 10, 2) == 4 * sum(
        p.numel() for p in layers)
    ensemble = ModelConfig(hidden=(64,), recipe="tabular", members=4)
    one_member = count_parameters(make_model(ModelConfig(hidden=(64,), recipe="tabular", members=1), 10, 2))
    monkeypatch.setattr(budget, "available_bytes", lambda device: 2 * one_member * budget.BYTES_PER_PARAMETER)
    budget.check_network_fits(ModelConfig(hidden=(64,), recipe="tabular", members=1), 10, 2, "cpu")
    with pytest.raises(ConfigError, match="choose smaller --hidden"):
        budget.check_network_fits(ensemble, 10, 2, "cpu")
    monkeypatch.setattr(budget, "available_bytes", lambda device: 2**30)  # 1 GiB free, whatever the machine
    built = []
    monkeypatch.setattr("torchclassify.workflow.training.make_fitted_model", lambda *a, **k: built.append(a))
    config = tc.make_config(source="moons", n_samples=100, hidden=(20_000, 20_000), epochs=1)
    with pytest.raises(ConfigError, match=r"--hidden 20000,20000 on 2 inputs makes 400 million parameters: "
                                          r"training them needs at least 6\.0 GiB .* has 1\.0 GiB free"):
        tc.train(config, out=tmp_path / "run", progress="quiet")
    assert not built and not list(tmp_path.iterdir())  # no run folder, no .partial


def test_an_error_in_the_users_own_network_is_theirs_not_an_internal_error(tmp_path, monkeypatch):
    """A --model whose forward raises mid-training: the one line names the user's file and line, and does not
    ask them to report a bug in torchclassify (a hostile pass: "internal error ... please report it")."""
    from conftest import cli_in_process

    (tmp_path / "breaking_nets.py").write_text(textwrap.dedent("""
        import torch
        class Breaks(torch.nn.Module):
            def __init__(self, n_features, n_outputs):
                super().__init__()
                self.layer, self.calls = torch.nn.Linear(n_features, n_outputs), 0
            def forward(self, X):
                self.calls += 1
                if self.calls > 5:
                    raise RuntimeError("boom in forward")
                return self.layer(X)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli_in_process("train", "--data", "moons", "--model", "breaking_nets:Breaks", "--epochs", "20",
                            "--quiet", "--out", str(tmp_path / "run"))
    sys.modules.pop("breaking_nets", None)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error in your code, {tmp_path / 'breaking_nets.py'}:10 (forward): "
                                    "RuntimeError: boom in forward") and "report" not in result.stderr
    # A bug of ours (raised from the package's own frames) is still an internal error, to be reported.
    import functools

    from torchclassify.data import preprocess

    monkeypatch.setattr(preprocess.Preprocessor, "fit", functools.partial(int, "not a number"))
    result = cli_in_process("train", "--data", "moons", "--epochs", "2", "--quiet", "--out", str(tmp_path / "r2"))
    assert result.returncode == 1 and result.stderr.startswith("internal error: TypeError: int()")


def test_a_users_module_that_does_not_parse_import_or_take_the_arguments_is_named(tmp_path, monkeypatch, request):
    """A second hostile pass: a SyntaxError in the --model module and a constructor without n_features were
    'internal error ... please report it'; a missing dependency of it said to check PYTHONPATH."""
    from conftest import cli_in_process

    (tmp_path / "net_syntax.py").write_text("import torch\ndef broken(:\n    pass\n")
    (tmp_path / "net_dep.py").write_text("import somemissingdep_tc\n")
    (tmp_path / "net_args.py").write_text(textwrap.dedent("""
        import torch
        class Net(torch.nn.Module):
            def __init__(self, inputs, outputs):
                super().__init__()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("net_syntax", "net_dep", "net_args")
    request.addfinalizer(lambda: [sys.modules.pop(name, None) for name in names])  # whatever the assertions say

    def train(spec):
        return cli_in_process("train", "--data", "moons", "--model", spec, "--epochs", "1", "--quiet", "--out",
                              str(tmp_path / "run"))

    result = train("net_syntax:Net")
    assert result.returncode == 1 and result.stderr.startswith(
        f"error in your code, {tmp_path / 'net_syntax.py'}:2 (module): SyntaxError")
    result = train("net_dep:Net")
    assert result.returncode == 2 and "'net_dep' for --model imports 'somemissingdep_tc', which is not installed" \
        in result.stderr
    result = train("net_args:Net")
    assert result.returncode == 2 and "--model net_args:Net: its __init__ must take n_features= and n_outputs=" \
        in result.stderr
