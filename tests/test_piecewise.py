"""The tabular ensemble's piecewise members: what PiecewiseLinear computes, where its bins come from, and that
a model holding them saves, loads, resumes and is refused or sized like any other (models.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import torchclassify as tc
from conftest import make_table
from torchclassify import models
from torchclassify.config import ModelConfig
from torchclassify.data.prepared import choose_piecewise
from torchclassify.engine.budget import fully_connected_parameters
from torchclassify.errors import ConfigError
from torchclassify.models import EMBED_DIM, PIECEWISE_BINS, Ensemble, PiecewiseLinear, TabularMLP, make_model
from torchclassify.models_binned import binned_embedding, inside_bin


def test_piecewise_linear_reads_each_number_in_its_quantile_bins():
    encode = PiecewiseLinear([0, 2], bins=4)
    train = torch.tensor([[0.0, 9, 0], [1, 9, 0], [2, 9, 1], [3, 9, 1], [4, 9, 1]])  # column 2: two values
    encode.fit(train)
    assert encode.lo[0].tolist() == [0, 1, 2, 3] and encode.inv_width[0].tolist() == [1, 1, 1, 1]
    assert encode.inv_width[1].abs().sum() == 0  # one bin says nothing the 0/1 input does not: every bin reads 0
    out = encode(torch.tensor([[2.5, 7, 0.5], [-1, 7, 1], [9, 7, 0]]))
    assert out.shape == (3, 3 + 2 * 4)
    assert out[:, :3].tolist() == [[2.5, 7, 0.5], [-1, 7, 1], [9, 7, 0]]  # the inputs themselves come first
    assert out[0, 3:7].tolist() == [1, 1, 0.5, 0]  # past bins 1-2, half-way through bin 3, below bin 4
    assert out[1, 3:7].tolist() == [0, 0, 0, 0] and out[2, 3:7].tolist() == [1, 1, 1, 1]  # below / past them all
    assert out[:, 7:].abs().sum() == 0


def test_tied_quantiles_merge_into_one_edge():
    encode = PiecewiseLinear([0], bins=4)
    encode.fit(torch.tensor([[0.0]] * 6 + [[1.0], [2.0]]))  # a count: mostly zero; quantiles 0, 0, 0, 0.25, 2
    assert encode.lo[0].tolist() == [0, 0.25, 0, 0] and torch.allclose(encode.inv_width[0], torch.tensor([4, 1 / 1.75, 0, 0]))
    values = encode(torch.tensor([[0.0], [1.0]]))[:, 1:]
    assert values[0].tolist() == [0, 0, 0, 0] and torch.allclose(values[1], torch.tensor([1, 0.75 / 1.75, 0, 0]))


def test_the_inside_bin_is_the_one_after_the_prefix_that_reads_one():
    bins = torch.tensor([[[1.0, 1, 0.5, 0]], [[0, 0, 0, 0]], [[1, 1, 1, 1]], [[1, 0, 0, 0]]])  # (n, N=1, B=4)
    passed, inside = inside_bin(bins)
    assert passed[:, 0].tolist() == [2, 0, 4, 1] and inside[:, 0].tolist() == [2, 0, 3, 1]


def _binned_member(seed: int = 0) -> tuple[TabularMLP, torch.Tensor]:
    """A piecewise member over 7 inputs, 3 of them numbers (one a count with tied quantiles, one with no bins at
    all), and rows inside, below, past and on the edges of their bins."""
    torch.manual_seed(seed)
    net = TabularMLP(7, 3, [16], numbers=[0, 2, 5])
    train = torch.randn(500, 7)
    train[:, 2] = torch.randint(0, 3, (500,)).float() * (train[:, 3] > 0.5)  # a count, mostly 0: tied quantiles
    train[:, 5] = 1.0  # one value: no bins
    net.piecewise.fit(train)
    X = torch.randn(40, 7) * 2
    X[:5, 0] = net.piecewise.lo[0, :5]  # on the edges
    X[5, 0], X[6, 0], X[:, 2] = -50, 50, torch.randint(0, 4, (40,)).float()
    return net, X


def test_binned_members_embed_each_bin_twice_and_read_the_same_numbers():
    net, X = _binned_member()
    plain = net.embedding(net.piecewise(X))  # every bin embedded
    fast = binned_embedding(X, net.piecewise, net.embedding)  # two embeddings per bin, N per row
    assert fast.shape == plain.shape == (40, (7 + 3 * PIECEWISE_BINS) * EMBED_DIM)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-6)
    assert not torch.equal(fast[0], fast[6])  # (rows differ: the comparison is not of constants)


def test_a_binned_member_trains_with_the_same_gradients_on_either_path(monkeypatch):
    net, X = _binned_member(1)
    calls = []
    monkeypatch.setattr(models, "binned_embedding", lambda *args: calls.append(1) or binned_embedding(*args))

    def gradients() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        net.zero_grad()
        out = net(X)
        (out ** 2).sum().backward()
        return out.detach(), {name: p.grad.clone() for name, p in net.named_parameters()}

    fast_out, fast_grads = gradients()
    assert calls == [1]  # forward took the fast path
    monkeypatch.setattr(models, "use_fast_path", lambda: False)  # what torch.export and the ONNX exporter trace
    plain_out, plain_grads = gradients()
    assert calls == [1]
    torch.testing.assert_close(fast_out, plain_out, rtol=0, atol=1e-6)
    assert set(fast_grads) == set(plain_grads) and any(g.abs().sum() > 0 for g in fast_grads.values())
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-5, atol=1e-6, msg=name)


# Near-ties a float32 step apart, around -0.5: quantiles distinct in float64 that round to one float32 value.
NEAR_TIES = -0.5 + torch.tensor([-7.2, -1.8, 3.6, -1.8, 0.3, -4.2, -3.0, -6.6, 0.0, -4.2, 1.5]) * 1e-7


def test_near_tied_quantiles_merge_as_stored_and_the_bins_tile():
    pw = PiecewiseLinear([0], bins=16)
    pw.fit(NEAR_TIES.view(-1, 1))
    used = pw.inv_width[0] > 0
    lo = pw.lo[0, used]
    assert used.sum() >= 2 and bool((lo.diff() > 0).all())  # distinct float32 edges, ascending
    assert pw.tiles()
    bins = pw.bins(NEAR_TIES.view(-1, 1))[:, 0, :int(used.sum())]  # (n, k): 1s, then one reading, then 0s
    assert bool((bins.diff(dim=1) <= 0).all())


def test_bins_that_overlap_take_the_plain_path(monkeypatch):
    # Buffers as the float64 ties of an older fit left them (two bins from one float32 lo): a row can read 1
    # in a bin after one it reads 0.8 in, which the two-embeddings path cannot express.
    torch.manual_seed(0)
    net = TabularMLP(1, 1, [4], numbers=[0]).eval()
    edges = torch.quantile(NEAR_TIES.double(), torch.linspace(0, 1, 17, dtype=torch.float64)).unique()
    k = len(edges) - 1
    net.piecewise.lo[0, :k] = edges[:-1].float()
    net.piecewise.inv_width[0, :k] = (1 / edges.diff()).float()
    assert not net.piecewise.tiles()
    calls = []
    monkeypatch.setattr(models, "binned_embedding", lambda *args: calls.append(1) or binned_embedding(*args))
    X = torch.tensor([[-0.49999997], [-0.5], [0.2]])
    with torch.no_grad():
        out = net(X)
        monkeypatch.setattr(models, "use_fast_path", lambda: False)
        assert calls == [] and torch.equal(out, net(X))
    tidy, X_tidy = _binned_member()
    assert tidy.piecewise.tiles() and tidy.piecewise.tiles()  # (the second answer is the first, kept)
    tidy.piecewise.lo[0, 3] += 0.5  # a model file whose bins leave a gap
    assert not tidy.piecewise.tiles()
    tidy.piecewise.load_state_dict(_binned_member()[0].piecewise.state_dict())  # loading new buffers asks again
    assert tidy.piecewise.tiles()
    with torch.inference_mode():  # a model built under inference mode: buffers without version counters
        built = TabularMLP(7, 3, [16], numbers=[0, 2, 5])
        built.load_state_dict(tidy.state_dict())
        assert built.piecewise.tiles() and torch.equal(built(X_tidy), tidy(X_tidy))


def test_half_the_tabular_members_read_the_bins():
    assert choose_piecewise("tabular", 4) == 2 and choose_piecewise("tabular", 1) == 0
    assert choose_piecewise("mlp", 4) == 0
    # A binned member reads the features and 16 bins per number column: none past 2,048 inputs.
    assert choose_piecewise("tabular", 4, 48, 125) == 2 and choose_piecewise("tabular", 4, 49, 125) == 0
    config = ModelConfig(hidden=[8], recipe="tabular", members=4, piecewise=2)
    net = make_model(config, n_features=6, n_outputs=3, numbers=[0, 2, 3])
    assert isinstance(net, Ensemble)
    plain, binned = net.members[:2], net.members[2:]
    assert all(isinstance(m.piecewise, torch.nn.Identity) and m.layers[0].in_features == 6 * EMBED_DIM for m in plain)
    assert all(m.piecewise.columns.tolist() == [0, 2, 3] for m in binned)
    assert all(m.layers[0].in_features == (6 + 3 * PIECEWISE_BINS) * EMBED_DIM for m in binned)
    assert net.eval()(torch.randn(5, 6)).shape == (5, 3)
    linear = sum(p.numel() for name, p in net.named_parameters() if ".layers." in name)
    assert fully_connected_parameters(config, 6, 3, n_numbers=3) == linear
    # a model file from before piecewise members: none of them
    old = make_model(ModelConfig(hidden=[8], recipe="tabular", members=2, piecewise=None), 6, 3, numbers=[0])
    assert all(isinstance(m, TabularMLP) and isinstance(m.piecewise, torch.nn.Identity) for m in old.members)


def test_the_bins_are_the_training_rows_quantiles_and_survive_save_and_load(tmp_path):
    frame, target = make_table("binary", n=400)
    run = tc.train(data=frame, target=target, recipe="tabular", hidden=[16], epochs=3, progress="quiet")
    assert run.config.model.members == 4 and run.config.model.piecewise == 2
    classifier = run.classifier
    numbers = classifier.preprocessor.number_inputs
    assert numbers  # (make_table has number columns)
    train = classifier.preprocessor.transform(frame.drop(columns=target).iloc[run.splits["train"]])
    binned = classifier.model.members[-1].piecewise
    assert binned.columns.tolist() == numbers
    for j, column in enumerate(numbers):
        edges = np.unique(np.quantile(train[:, column].astype(np.float64), np.linspace(0, 1, PIECEWISE_BINS + 1)))
        k = len(edges) - 1
        assert np.allclose(binned.lo[j, :k].numpy(), edges[:-1], atol=1e-6)  # training rows only, not the test's
    (tmp_path / "m").mkdir()
    classifier.save(tmp_path / "m")
    loaded = tc.load(tmp_path / "m")
    assert loaded.model_config.piecewise == 2 and torch.equal(loaded.model.members[-1].piecewise.lo, binned.lo)
    X = frame.drop(columns=target)
    pd.testing.assert_frame_equal(loaded.predict_proba(X), classifier.predict_proba(X), check_exact=True)


@pytest.mark.parametrize("settings, message", [
    (dict(recipe="mlp", piecewise=2), "tabular recipe"),
    (dict(recipe="tabular", members=2, piecewise=3), "at most --members of them"),
    (dict(recipe="tabular", hidden=[], piecewise=1), "tabular recipe"),
])
def test_piecewise_members_outside_the_tabular_ensemble_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        tc.make_config(data="moons", **settings)


def test_the_piecewise_flag_refuses_in_one_line(tmp_path):
    from conftest import cli_in_process

    result = cli_in_process("train", "--data", "moons", "--recipe", "mlp", "--piecewise", "2", "--out",
                            str(tmp_path / "r"))
    err = result.stderr.strip()
    assert result.returncode == 2 and "--piecewise" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_tabular_run_interrupted_before_piecewise_members_resumes_without_them(tmp_path, monkeypatch):
    # Such a run's settings hold no piecewise count (None), which the rule would now resolve to half the
    # members: its checkpoint holds none, so resuming must build none.
    import torchclassify.data.prepared as prepared_module
    from test_resume import InterruptAt

    settings = dict(data="moons", n_samples=200, recipe="tabular", hidden=[8], epochs=6, seed=3, progress="quiet")
    monkeypatch.setattr(prepared_module, "choose_piecewise", lambda *args: None)  # as before the rule
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", callbacks=[InterruptAt(3)], checkpoint_every=1, **settings)
    monkeypatch.undo()
    resumed = tc.train(resume=tmp_path / "run", progress="quiet")
    assert resumed.config.model.piecewise == 0
    assert not any(isinstance(m, PiecewiseLinear) for m in resumed.classifier.model.modules())
    assert resumed.summary["epochs_run"] == 6


def test_a_model_file_whose_bins_read_other_inputs_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    frame, target = make_table("binary", n=400)
    run = tc.train(data=frame, target=target, recipe="tabular", hidden=[8], epochs=1, progress="quiet")
    run.classifier.save(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    name = next(k for k in weights if k.endswith("piecewise.columns"))
    weights[name] = torch.full_like(weights[name], 10**9)  # past every input: an IndexError at predict time
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(tc.ModelFileError, match="piecewise members read other inputs"):
        tc.load(tmp_path)


def test_piecewise_members_past_the_chosen_ensemble_are_refused():
    frame, target = make_table("binary", n=400)
    with pytest.raises(ConfigError, match="ensemble is 4 tabular network"):
        tc.train(data=frame, target=target, recipe="tabular", piecewise=5, epochs=1, progress="quiet")
    with pytest.raises(ConfigError, match="ensemble is 1 mlp network"):  # auto: the plain MLP for 400 rows
        tc.train(data=frame, target=target, piecewise=1, epochs=1, progress="quiet")


@pytest.mark.parametrize("n_numbers, binned", [(120, 2), (121, 0)])
def test_a_wide_table_gets_no_binned_members(n_numbers, binned):
    """120 number columns: 120 + 16 x 120 = 2,040 inputs for a binned member; 121: 2,057, past the cap."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, n_numbers)), columns=[f"x{i}" for i in range(n_numbers)])
    frame["y"] = (frame["x0"] > 0).astype(int)
    run = tc.train(data=frame, target="y", recipe="tabular", hidden=[8], epochs=1, progress="quiet")
    assert run.config.model.piecewise == binned and run.config.model.members == 4
    assert sum(isinstance(m, PiecewiseLinear) for m in run.classifier.model.modules()) == binned


def test_a_run_interrupted_under_an_older_rule_resumes_with_the_members_it_built(tmp_path, monkeypatch):
    """The settings in a checkpoint are stored before the data chose the binned members (piecewise None): a
    run interrupted before the wide-table cap, on 130 number columns, built two; resumed now, the rule would
    say none, and the weights would not fit (seen in review)."""
    import torchclassify.data.prepared as prepared_module
    from test_resume import InterruptAt

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(300, 130)), columns=[f"x{i}" for i in range(130)])
    frame["y"] = (frame["x0"] + frame["x1"] > 0).astype(int)
    # (threads=1: the model is past the one-thread rule, and counts chosen from the load would round differently)
    settings = dict(data=frame, target="y", recipe="tabular", hidden=[8], epochs=4, seed=2, progress="quiet",
                    threads=1)
    monkeypatch.setattr(prepared_module, "PIECEWISE_MAX_INPUTS", 10**9)  # the rule before the cap
    reference = tc.train(**settings)
    assert reference.config.model.piecewise == 2
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", callbacks=[InterruptAt(2)], checkpoint_every=1, **settings)
    monkeypatch.undo()
    resumed = tc.train(resume=tmp_path / "run", data=frame, progress="quiet")
    assert resumed.config.model.piecewise == 2
    weights, again = reference.classifier.model.state_dict(), resumed.classifier.model.state_dict()
    assert weights.keys() == again.keys() and all(torch.equal(weights[k], again[k]) for k in weights)


def test_the_estimators_refit_keeps_the_binned_members_of_the_run_it_judged(monkeypatch):
    """The refit on every row is fitted for the epochs (and temperature) the judged run found: it must be
    the same network, even where its wider preprocessing (more categories) would tip the rule."""
    import torchclassify.data.prepared as prepared_module

    calls = []
    rule = prepared_module.choose_piecewise

    def tipping(*args):  # the judged run gets the rule's count; any later choice would get none
        calls.append(args)
        return rule(*args) if len(calls) == 1 else 0

    monkeypatch.setattr(prepared_module, "choose_piecewise", tipping)
    frame, target = make_table("binary", n=2400, seed=3)
    model = tc.TorchClassifier(recipe="tabular", hidden=(8,), epochs=3, early_stopping=True, refit=True)
    model.fit(frame.drop(columns=target), frame[target])
    assert model.validation_history_ is not None  # a refit followed
    assert model.config_.model.piecewise == 2
    assert sum(isinstance(m, PiecewiseLinear) for m in model.classifier_.model.modules()) == 2
