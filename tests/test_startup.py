"""Start-up: what a fresh interpreter imports for `train` and `predict` (issue 19's seconds).

torch._dynamo costs ~1-1.5 s to import and nothing on these paths compiles; scipy (under scikit-learn and
torchmetrics) ~0.6-1 s, and nothing on them needs it: the toy rows, the split, the metrics, the curves and
the report's permutation importance are numpy and torch. `predict` needs no matplotlib either; the report
written by `train` draws with it. The pictures no run report draws (compare, tune and lr-find's, the image
grid) stay unimported. And the commands freeze what their imports built (commands.common.imports_kept):
the cyclic collector's full passes over torch's, pandas' and matplotlib's ~250,000 objects cost 0.3-0.5 s
of a cold `train`, the one at interpreter exit among them.
"""

import json
import subprocess
import sys

HEAVY = ("torch._dynamo", "scipy", "sklearn", "torchmetrics", "matplotlib", "matplotlib.pyplot",
         "torchclassify.plots.search", "torchclassify.plots.images")

_RUN = """
import gc, json, sys
from torchclassify.cli import run
code = run()  # as the console script calls it: sys.argv, the whole process
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules], "frozen": gc.get_freeze_count()}))
""" % (HEAVY,)

FROZEN_AT_LEAST = 100_000  # torch alone leaves ~160,000 objects to the collector


def _fresh(*args: str) -> dict:
    """`torchclassify ARGS` in a fresh interpreter: its exit code, which HEAVY modules it imported, and how
    many objects it froze out of the collector's passes."""
    result = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_train_never_imports_dynamo_and_predict_imports_none_of_the_heavy_libraries(tmp_path):
    run = tmp_path / "run"
    trained = _fresh("train", "--data", "circles", "--epochs", "3", "--out", str(run), "--quiet")
    assert trained["code"] == 0 and (run / "report.html").exists()
    assert trained["loaded"] == ["matplotlib"]  # a Figure on Agg: no pyplot, torch._dynamo, scipy, sklearn
    assert trained["frozen"] >= FROZEN_AT_LEAST  # torch, pandas and matplotlib: out of the collector's passes
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n0.5,-0.3\n")
    predicted = _fresh("predict", str(run), str(rows), "--proba")
    assert predicted["code"] == 0 and predicted["loaded"] == [] and predicted["frozen"] >= FROZEN_AT_LEAST


def test_a_table_of_numbers_and_categories_trains_without_scipy(tmp_path):
    """A CSV without free text: split, preprocessing, metrics and report need neither scikit-learn nor scipy."""
    table = tmp_path / "table.csv"
    rows = ["size,colour,label"] + [f"{i % 17 * 0.5},{('red', 'blue', 'green')[i % 3]},{'yes' if i % 4 else 'no'}"
                                    for i in range(120)]
    table.write_text("\n".join(rows) + "\n")
    trained = _fresh("train", "--data", str(table), "--target", "label", "--epochs", "2", "--threshold", "auto",
                     "--out", str(tmp_path / "run"), "--quiet")
    assert trained["code"] == 0 and trained["loaded"] == ["matplotlib"]


def test_the_tabular_recipe_trains_without_dynamo(tmp_path):
    """1,000+ training rows: the tabular recipe's ensemble trains through autograd, whose optimizer.zero_grad and
    step would import torch._dynamo on their first call (engine.optim.dynamo_unimported, direct_step)."""
    table = tmp_path / "table.csv"
    rows = ["size,colour,label"] + [f"{i % 17 * 0.5},{('red', 'blue', 'green')[i % 3]},{'yes' if i % 4 else 'no'}"
                                    for i in range(2000)]
    table.write_text("\n".join(rows) + "\n")
    trained = _fresh("train", "--data", str(table), "--target", "label", "--epochs", "2", "--out",
                     str(tmp_path / "run"), "--quiet")
    assert trained["code"] == 0 and trained["loaded"] == ["matplotlib"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["recipe"] == "tabular"


def test_the_collector_is_frozen_only_by_the_commands_not_by_the_library():
    """The library leaves a caller's collector alone: freezing there would keep a notebook's garbage cycles
    alive. Only the CLI's commands entered through cli.run (the process ends with the command) freeze: not a
    caller's cli.main([...]) nor cli.main() on sys.argv, though the command runs its imports_kept."""
    code = ("import gc, json, sys, torchclassify.plots, torchclassify.report, torchclassify.workflow\n"
            "from torchclassify.cli import main\n"
            "from torchclassify.plots import import_matplotlib\n"
            "import_matplotlib()\n"
            "assert main(['predict', '/nonexistent/run', '/nonexistent/rows.csv']) == 2\n"
            "sys.argv = ['torchclassify', 'predict', '/nonexistent/run', '/nonexistent/rows.csv']\n"
            "assert main() == 2\n"
            "print(json.dumps({'frozen': gc.get_freeze_count(), 'enabled': gc.isenabled()}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"frozen": 0, "enabled": True}


def test_imports_kept_restores_the_collector_and_freezes_only_a_whole_process():
    import argparse
    import gc

    from torchclassify.commands.common import imports_kept

    was, frozen = gc.isenabled(), gc.get_freeze_count()
    try:
        gc.enable()
        with imports_kept(argparse.Namespace(whole_process=False)):  # a caller's cli.main([...])
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() == frozen
        with imports_kept(argparse.Namespace(whole_process=True)):
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        gc.disable()  # a caller that had it off gets it back off
        with imports_kept(argparse.Namespace(whole_process=True)):
            pass
        assert not gc.isenabled()
    finally:
        gc.unfreeze()  # (this test's process is pytest's: give its objects back to the collector)
        (gc.enable if was else gc.disable)()
