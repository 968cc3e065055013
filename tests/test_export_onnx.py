"""ONNX and torch.export: onnxruntime on raw rows gives torchclassify's predictions; what cannot be expressed,
and a hostile or mismatched input, is one clear error."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import torchclassify as tc
from conftest import cli_in_process
from torchclassify.errors import ConfigError, DataError, ModelFileError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

EXAMPLES = Path(__file__).parent.parent / "examples"
# task -> (CSV, target, settings, the rows to predict beside the CSV's own)
CASES = {
    "binary": ("churn.csv", "status", dict(drop=["signup_date"], norm="batch", dropout=0.1), "churn_new.csv"),
    "multiclass": ("customers.csv", "plan", dict(activation="gelu"), "new_rows.csv"),
    "multilabel": ("songs.csv", "mood_*", dict(hidden=[8]), None),
    # the tabular recipe's ensemble: periodic embeddings, a per-input scale, half the members reading the numbers
    # in quantile bins (PiecewiseLinear), the temperature in the heads
    "binary-tabular": ("churn.csv", "status", dict(drop=["signup_date"], recipe="tabular", hidden=[16], piecewise=2),
                       "churn_new.csv"),
}


def _hostile_rows(rows: pd.DataFrame, clf) -> pd.DataFrame:
    """Rows with a missing, infinite, huge or textual number and a missing or unseen category in each column."""
    extra = rows.head(6).copy().reset_index(drop=True)
    for col in clf.preprocessor.numeric:
        extra[col.name] = extra[col.name].astype(object)
        extra.loc[0, col.name] = np.nan
        extra.loc[1, col.name] = np.inf
        extra.loc[2, col.name] = -1e200
        extra.loc[3, col.name] = "n/a"
        extra.loc[4, col.name] = 1e30
    for name in clf.preprocessor.categorical_columns:
        extra.loc[0, name] = None
        extra.loc[1, name] = "never-seen-in-training"
        extra.loc[5, name] = ""
    return pd.concat([rows.astype(object), extra], ignore_index=True)


@pytest.fixture(scope="module", params=list(CASES))
def exported(request, tmp_path_factory):
    csv, target, settings, new = CASES[request.param]
    run = tc.train(data=str(EXAMPLES / csv), target=target, epochs=4, progress="quiet", **settings)
    clf = run.classifier
    path = clf.export_onnx(tmp_path_factory.mktemp(request.param) / "model.onnx")
    rows = pd.read_csv(EXAMPLES / csv)
    if new is not None:
        rows = pd.concat([rows, pd.read_csv(EXAMPLES / new)], ignore_index=True)
    return request.param, clf, path, _hostile_rows(rows, clf)


def test_onnxruntime_gives_torchclassifys_predictions_on_raw_rows(exported):
    from torchclassify.export.onnx_serving import OnnxClassifier

    task, clf, path, rows = exported
    served = OnnxClassifier(path)
    with pytest.warns(UserWarning):  # the text and huge values are treated as missing, with a warning
        expected, expected_proba = clf.predict(rows), clf.predict_proba(rows)
    got, got_proba = served.predict(rows), served.predict_proba(rows)
    if task == "multilabel":
        pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.iloc[0]))
    else:
        assert list(got) == list(expected)  # the original labels, strings or numbers
        assert len(set(got)) >= 1 and set(got) <= set(clf.classes)
    assert list(got_proba.columns) == list(expected_proba.columns)
    np.testing.assert_allclose(got_proba.to_numpy(), expected_proba.to_numpy(), rtol=0, atol=1e-5)


def test_the_file_serves_with_onnxruntime_alone(exported):
    import onnxruntime

    task, clf, path, rows = exported
    session = onnxruntime.InferenceSession(str(path))
    feeds = {}
    for i in session.get_inputs():  # the README's recipe: one (n, 1) array per column, missing as NaN or "__missing__"
        column = rows[i.name].tail(20)
        if i.type == "tensor(double)":
            feeds[i.name] = pd.to_numeric(column, errors="coerce").to_numpy(np.float64).reshape(-1, 1)
        else:
            feeds[i.name] = column.fillna("__missing__").astype(str).to_numpy(object).reshape(-1, 1)
    label, proba = session.run(None, feeds)
    with pytest.warns(UserWarning):
        expected = clf.predict_proba(rows.tail(20)).to_numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    assert len(label) == 20


@pytest.mark.parametrize("classes", [[0, 1], [1.5, 2.5, 7.0], [True, False]])
def test_number_and_bool_classes_come_back_as_they_were(classes, tmp_path):
    from torchclassify.export.onnx_serving import OnnxClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90)})
    frame["y"] = np.asarray(classes, dtype=object)[np.arange(90) % len(classes)]
    clf = tc.train(data=frame, target="y", epochs=3, progress="quiet").classifier
    clf.model.train()
    served = OnnxClassifier(clf.export_onnx(tmp_path / "m.onnx"))
    assert clf.model.training  # the export worked on a copy: the caller's network is as it was
    clf.model.eval()
    got, expected = served.predict(frame), clf.predict(frame)
    assert list(got) == list(expected) and {type(v) for v in got} == {type(v) for v in expected}


def test_a_mismatched_input_is_one_clear_error(exported, tmp_path):
    from torchclassify.export.onnx_serving import OnnxClassifier

    task, clf, path, rows = exported
    served = OnnxClassifier(path)
    first = served.feature_columns[0]
    with pytest.raises(DataError, match=f"lack 1 column.*{first}"):
        served.predict(rows.drop(columns=[first]))
    feeds = served.feeds(rows.head(3))
    for bad, match in ((dict(feeds, **{first: feeds[first].astype(np.float32)}), "must hold float64"),
                       (dict(feeds, **{first: feeds[first].ravel()}), r"must be an \(n, 1\)"),
                       ({k: v for k, v in feeds.items() if k != first}, "takes the inputs"),
                       (dict(feeds, **{first: feeds[first][:2]}), "different numbers of rows")):
        with pytest.raises(DataError, match=match):
            served.run(bad)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not a protobuf" * 50)
    with pytest.raises(ModelFileError, match="not a readable ONNX file"):
        OnnxClassifier(garbage)


def test_an_onnx_file_from_elsewhere_or_altered_is_refused(tmp_path):
    import json

    from onnx import helper

    from torchclassify.export.onnx import FORMAT, export_network
    from torchclassify.export.onnx_serving import OnnxClassifier

    network = export_network(torch.nn.Linear(3, 2), 3)
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(network.SerializeToString())
    with pytest.raises(ModelFileError, match="not an ONNX file written by torchclassify"):
        OnnxClassifier(foreign)
    for meta, match in (({"inputs": "x", "classes": [0, 1], "task": "binary"}, "metadata is malformed"),
                        ({"inputs": {"x": "number"}, "classes": [0, 1], "task": "binary"}, "inputs or outputs do not match")):
        helper.set_model_props(network, {"torchclassify": json.dumps({"format": FORMAT, "format_version": 1, **meta})})
        foreign.write_bytes(network.SerializeToString())
        with pytest.raises(ModelFileError, match=match):
            OnnxClassifier(foreign)


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    words = np.array("free prize call now meeting agenda lunch offer bonus report".split())
    return pd.DataFrame({
        "x": rng.normal(size=n), "z": rng.normal(size=n),
        "note": [" ".join(rng.choice(words, 5)) for _ in range(n)],
        "day": pd.date_range("2024-01-01", periods=n).astype(str),
        "y": rng.choice(["a", "b"], size=n)})


@pytest.mark.parametrize("column,alternative", [("note", "--no-text note"), ("day", "--drop day")])
def test_export_refuses_what_onnx_cannot_express_by_column(column, alternative, tmp_path):
    frame = _frame()
    keep = {"note": dict(drop=["day"]), "day": dict(no_text=["note"], drop=["note"])}[column]
    run = tc.train(data=frame, target="y", epochs=1, progress="quiet", **keep)
    with pytest.raises(ConfigError, match=f"column '{column}' is read as .*{alternative}.*--format torch"):
        run.classifier.export_onnx(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_robust_clipped_numbers_are_refused_not_exported_wrong(tmp_path):
    frame = _frame()
    run = tc.train(data=frame, target="y", epochs=1, progress="quiet", drop=["day", "note"],
                   numeric_scaling="robust_clip")
    with pytest.raises(ConfigError, match="numeric_scaling='robust_clip'.*--numeric-scaling standard"):
        run.classifier.export_onnx(tmp_path / "model.onnx")


def test_a_changed_column_recipe_is_refused_not_exported_wrong():
    from torchclassify.data.preprocess import NumericColumn
    from torchclassify.export.onnx_graph import Graph, numeric_column

    @dataclasses.dataclass
    class ClippedColumn(NumericColumn):
        clip: float = 3.0

    with pytest.raises(ConfigError, match="'x': the numeric preprocessing now has the fields .*clip"):
        numeric_column(Graph(), ClippedColumn("x", 0.0, 0.0, 1.0, False), "x")


def test_a_missing_onnx_library_names_the_extra(monkeypatch, exported, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    from torchclassify.export.onnx_serving import OnnxClassifier

    with pytest.raises(ConfigError, match=r"onnxruntime package.*pip install 'torchclassify\[export\]'"):
        OnnxClassifier(exported[2])


def test_the_torch_program_gives_the_same_logits(exported, tmp_path):
    import json

    from torchclassify.data.preprocess import Preprocessor
    from torchclassify.export.torch_program import to_torch_program

    task, clf, _, rows = exported
    program_path, json_path = to_torch_program(clf, tmp_path / "model.pt2")
    program = torch.export.load(program_path)
    state = json.loads(json_path.read_text())
    assert state["classes"] == clf.classes and state["task"] == task.split("-")[0]  # (binary-tabular: binary)
    expected = clf.predict_logits(rows)  # (the missing-value warning is predict's, not predict_logits')
    features = torch.from_numpy(Preprocessor.from_dict(state["preprocessing"]).transform(rows))
    logits = program.module()(features)  # (n, n_outputs)
    assert torch.equal(clf.task.squeeze_logits(logits), expected)


def test_cli_export_writes_each_format_and_refuses_in_one_line(tmp_path):
    frame = _frame()
    tc.train(data=frame, target="y", epochs=1, progress="quiet", drop=["day", "note"], out=tmp_path / "run")
    done = cli_in_process("export", str(tmp_path / "run"), "--format", "onnx", "-o", str(tmp_path / "m.onnx"))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and (tmp_path / "m.onnx").stat().st_size > 0
    again = cli_in_process("export", str(tmp_path / "run"), "--format", "onnx", "-o", str(tmp_path / "m.onnx"))
    assert again.returncode == 2 and "exists" in again.stderr and "--overwrite" in again.stderr
    done = cli_in_process("export", str(tmp_path / "run"), "--format", "torch", "-o", str(tmp_path / "m.pt2"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.preprocessing.json").is_file()
    into_run = cli_in_process("export", str(tmp_path / "run"), "--format", "onnx", "-o",
                              str(tmp_path / "run" / "model.json"), "--overwrite")
    assert into_run.returncode == 2 and len(into_run.stderr.strip().splitlines()) == 1
    device = cli_in_process("export", str(tmp_path / "run"), "--format", "onnx", "-o", "/dev/null", "--overwrite")
    assert device.returncode == 2 and "not a regular file" in device.stderr
    misnamed = cli_in_process("export", str(tmp_path / "run"), "--format", "torch", "-o", str(tmp_path / "n.out"))
    assert misnamed.returncode == 2 and "a --format torch file ends in .pt2" in misnamed.stderr  # review
    tc.train(data=frame, target="y", epochs=1, progress="quiet", drop=["day"], out=tmp_path / "text_run")
    refused = cli_in_process("export", str(tmp_path / "text_run"), "--format", "onnx", "-o", str(tmp_path / "t.onnx"))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "column 'note'" in refused.stderr and "--no-text note" in refused.stderr


def test_a_tensor_stored_in_an_external_file_is_refused_not_read_from_the_cwd(exported, tmp_path, monkeypatch):
    import onnx
    from onnx import external_data_helper

    from torchclassify.export.onnx_serving import OnnxClassifier

    _, _, path, rows = exported
    model = onnx.load(path)
    biggest = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    size = len(biggest.raw_data)
    assert size > 64
    largest = [t.name for t in model.graph.initializer if len(t.raw_data) == size]  # (an ensemble: one per member)
    # The largest weights moved to "secret.bin": loaded from bytes, onnxruntime would resolve them against the
    # current directory.
    external_data_helper.convert_model_to_external_data(model, location="secret.bin",
                                                        size_threshold=size)
    assert [t.name for t in model.graph.initializer if external_data_helper.uses_external_data(t)] == largest
    onnx.save(model, tmp_path / "m.onnx")
    assert (tmp_path / "secret.bin").stat().st_size == size * len(largest)
    monkeypatch.chdir(tmp_path)
    names = "|".join(largest).replace(".", r"\.")
    with pytest.raises(ModelFileError, match=f"tensor '({names})' is stored in an external file"):
        OnnxClassifier(tmp_path / "m.onnx")
    OnnxClassifier(path).predict(rows.head(2))  # the export itself is served


def test_an_external_tensor_deep_in_a_subgraph_is_found():
    from onnx import TensorProto, helper, numpy_helper

    from torchclassify.export.onnx_serving import external_tensor

    hidden = numpy_helper.from_array(np.zeros(4, np.float32), "hidden")
    hidden.data_location = TensorProto.EXTERNAL
    leaf = helper.make_node("Constant", [], ["c"], value=hidden)
    out = helper.make_tensor_value_info("c", TensorProto.FLOAT, [4])
    branch = helper.make_graph([leaf], "b", [], [out])
    for _ in range(3):  # If inside If inside If: the tensor is three subgraphs down
        node = helper.make_node("If", ["cond"], ["c"], then_branch=branch, else_branch=branch)
        branch = helper.make_graph([node], "b", [], [out])
    model = helper.make_model(helper.make_graph(list(branch.node), "g",
                                                [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])], [out]))
    assert external_tensor(model) == "hidden"
    hidden.data_location = TensorProto.DEFAULT
    leaf.attribute[0].t.CopyFrom(hidden)
    assert external_tensor(helper.make_model(helper.make_graph([leaf], "g", [], [out]))) is None


def _crafted(tmp_path, nodes, width, classes=(0, 1), name="crafted.onnx"):
    """A tiny hostile graph with torchclassify's metadata: "x" (n, 1) double in; "label" and "probabilities"
    (declared (n, width) float) out, computed by `nodes` from "xf" (x as float)."""
    import json

    import onnx
    from onnx import TensorProto, helper

    from torchclassify.export.onnx import FORMAT

    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT), *nodes,
         helper.make_node("Squeeze", ["x", "one"], ["label"])],
        "crafted", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", 1])],
        [helper.make_tensor_value_info("label", TensorProto.DOUBLE, ["n"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", width])],
        initializer=[onnx.numpy_helper.from_array(np.array([1], np.int64), "one"),
                     onnx.numpy_helper.from_array(np.array([0], np.int64), "zero"),
                     onnx.numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
                     onnx.numpy_helper.from_array(np.array([-1, 2], np.int64), "pairs")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    helper.set_model_props(model, {"torchclassify": json.dumps(
        {"format": FORMAT, "format_version": 1, "task": "binary", "classes": list(classes), "threshold": 0.5,
         "inputs": {"x": "number"}})})
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def test_metadata_that_does_not_fit_the_graph_is_refused_at_load(tmp_path):
    from onnx import helper

    from torchclassify.export.onnx_serving import OnnxClassifier

    two = [helper.make_node("Concat", ["xf", "xf"], ["probabilities"], axis=1)]
    assert OnnxClassifier(_crafted(tmp_path, two, 2)).predict_proba({"x": [0.25]}).shape == (1, 2)
    with pytest.raises(ModelFileError, match=r"probabilities have the shape \['n', 3\], not \(n, 2\)"):
        OnnxClassifier(_crafted(tmp_path, two, 3))
    with pytest.raises(ModelFileError, match="metadata is malformed"):
        OnnxClassifier(_crafted(tmp_path, two, 2, classes=({"a": 1}, [2])))


def test_a_graph_that_fails_or_lies_at_run_time_is_one_clear_error(tmp_path):
    from onnx import helper

    from torchclassify.export.onnx_serving import OnnxClassifier

    # (n, 1) reshaped to (-1, 2): fine for an even n, an onnxruntime error for an odd one
    reshape = [helper.make_node("Reshape", ["xf", "pairs"], ["probabilities"])]
    served = OnnxClassifier(_crafted(tmp_path, reshape, "c"))
    with pytest.raises(ModelFileError, match=r"crafted.onnx: onnxruntime could not run the graph \(\w+"):
        served.predict_proba({"x": [0.1, 0.2, 0.3]})
    # ConstantOfShape((n, first x)): its width is known only at run time, so onnxruntime cannot check it at load
    from onnx import TensorProto

    sized = [helper.make_node("Reshape", ["x", "minus_one"], ["flat"]),
             helper.make_node("Slice", ["flat", "zero", "one"], ["first"]),
             helper.make_node("Cast", ["first"], ["k"], to=TensorProto.INT64),
             helper.make_node("Shape", ["x"], ["n"], end=1),
             helper.make_node("Concat", ["n", "k"], ["shape"], axis=0),
             helper.make_node("ConstantOfShape", ["shape"], ["probabilities"],
                              value=helper.make_tensor("half", TensorProto.FLOAT, [1], [0.5]))]
    served = OnnxClassifier(_crafted(tmp_path, sized, "c"))
    assert served.predict_proba({"x": [2.0, 0.3]}).to_numpy().tolist() == [[0.5, 0.5], [0.5, 0.5]]
    for call in (served.predict_proba, served.predict):  # three columns for two classes
        with pytest.raises(ModelFileError, match=r"probabilities of shape \(2, 3\).*not \(2, 2\)"):
            call({"x": [3.0, 0.2]})
    with pytest.raises(ModelFileError, match="onnxruntime could not run the graph"):  # 2 x 1e13 floats: a bomb
        served.predict_proba({"x": [1e13, 0.2]})


def test_an_image_model_is_refused_by_name():
    from torchclassify.data.images import ImagePreprocessor
    from torchclassify.export.onnx_graph import Graph, add_preprocessing

    with pytest.raises(ConfigError, match=r"^image models cannot be exported to ONNX yet.*--format torch"):
        add_preprocessing(Graph(), ImagePreprocessor("image", 8, "L", [0.5], [0.25]))


def test_a_column_on_the_log_scale_exports_with_the_same_predictions(tmp_path):
    """A skewed count column (log_skewed) is built as Sign, Abs, Div, Add, Log, Mul in the graph; onnxruntime
    gives the library's probabilities on values inside, below (negative) and far beyond the training range."""
    from torchclassify.export.onnx_serving import OnnxClassifier

    rng = np.random.default_rng(0)
    jobs = np.floor(rng.lognormal(2.0, 1.6, 300))
    frame = pd.DataFrame({"jobs": jobs, "x": rng.normal(size=300), "y": np.where(jobs > 8, "long", "short")})
    clf = tc.train(data=frame, target="y", epochs=3, progress="quiet").classifier
    assert [c.name for c in clf.preprocessor.numeric if c.log_scale] == ["jobs"]
    rows = pd.concat([frame.drop(columns="y"), pd.DataFrame({
        "jobs": [0.0, -5.0, 1e9, np.nan, 0.5], "x": [0.0, 1.0, -1.0, 0.5, 2.0]})], ignore_index=True)
    served = OnnxClassifier(clf.export_onnx(tmp_path / "model.onnx"))
    np.testing.assert_allclose(served.predict_proba(rows).to_numpy(), clf.predict_proba(rows).to_numpy(),
                               rtol=0, atol=1e-6)
    assert list(served.predict(rows)) == list(clf.predict(rows))
