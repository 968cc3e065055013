"""report.html: written by every train, self-contained, rebuilt by `torchclassify report`; the model runs once
per split. (The page in a browser: tests/test_pages_in_browser.py.)"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import torchclassify as tc
from conftest import cli_in_process, make_table
from torchclassify.report import figure_to_data_uri, html_page

SETTINGS = dict(n_samples=200, epochs=25, hidden=[16], lr=0.03, batch_size=0, progress="quiet")
SECTIONS = ["Summary", "Metrics", "Training curves", "Decision boundary", "Confusion matrix",
            "ROC and precision-recall", "Calibration", "What the model relies on", "Data", "Model", "Config"]
N_PICTURES = 6  # curves, boundary, confusion, ROC, PR, calibration


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the h2 headings."""

    def __init__(self):
        super().__init__()
        self.tags, self.headings, self._in_h2 = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def _decoded_images(text: str) -> list[Image.Image]:
    """Every <img> of the page, decoded from its data: URI (fails on anything else)."""
    images = []
    for tag, attrs in _parse(text).tags:
        if tag == "img":
            match = re.fullmatch(r"data:image/png;base64,([A-Za-z0-9+/=]+)", attrs["src"])
            assert match, attrs["src"][:60]
            image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
            image.load()  # decodes every pixel
            images.append(image)
    return images


@pytest.fixture(scope="module")
def blobs_run(tmp_path_factory):
    return tc.train(data="blobs", out=tmp_path_factory.mktemp("runs") / "blobs", **SETTINGS)


def test_train_writes_a_self_contained_report(blobs_run):
    text = (blobs_run.run_dir / "report.html").read_text(encoding="utf-8")
    parsed = _parse(text)
    assert parsed.headings == SECTIONS
    # Nothing reaches outside the file: no scripts, stylesheets, frames or remote URLs; only data: images.
    assert not {tag for tag, _ in parsed.tags} & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), (tag, attrs[name][:60])
    assert "url(" not in text and "@import" not in text and "http://" not in text and "https://" not in text
    assert "default-src 'none'" in text  # the browser itself refuses any fetch
    images = _decoded_images(text)
    assert len(images) == N_PICTURES
    assert all(image.width > 200 and image.height > 150 for image in images)
    assert "test accuracy" in text and f"{blobs_run.metrics['test']['accuracy']:.4f}" in text


def test_report_command_rebuilds_the_same_page(blobs_run, tmp_path):
    report = blobs_run.run_dir / "report.html"
    written_by_train = report.read_text(encoding="utf-8")
    report.unlink()
    result = cli_in_process("report", str(blobs_run.run_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(report)
    # Rebuilt from config.json alone (same rows, same seeded split): the very same pictures and tables.
    assert report.read_text(encoding="utf-8") == written_by_train


def test_plot_command_writes_svg_and_png(blobs_run, tmp_path, capsys):
    from torchclassify.cli import main

    # In-process: the subprocess path of the CLI is covered by the report command above.
    assert main(["plot", str(blobs_run.run_dir), "--kind", "confusion", "--format", "svg", "-o",
                 str(tmp_path / "cm.svg")]) == 0
    svg = (tmp_path / "cm.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "counts" in svg and "predicted" in svg
    assert main(["plot", str(blobs_run.run_dir), "--kind", "boundary"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(blobs_run.run_dir / "boundary.png")
    assert Image.open(blobs_run.run_dir / "boundary.png").format == "PNG"
    (blobs_run.run_dir / "boundary.png").unlink()
    assert main(["plot", str(blobs_run.run_dir), "--kind", "roc", "--features", "x0,x1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --features and --labels apply to --kind boundary only"
    # The picture's format follows -o's extension; a mismatch or a non-picture name is one line (review: -o
    # pic.svg wrote PNG bytes, and -o other.csv replaced a CSV with a PNG).
    assert main(["plot", str(blobs_run.run_dir), "--kind", "curves", "-o", str(tmp_path / "c.svg")]) == 0
    assert "<svg" in (tmp_path / "c.svg").read_text(encoding="utf-8")
    for bad in (["-o", str(tmp_path / "c.png"), "--format", "svg"], ["-o", str(tmp_path / "other.csv")]):
        assert main(["plot", str(blobs_run.run_dir), "--kind", "curves", *bad]) == 2
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "other.csv").exists()


def test_dataframe_run_report_draws_the_rows_once_and_says_why_it_cannot_again(tmp_path, capsys):
    """The training report draws the rows it trained on; rebuilt from the folder, a DataFrame run cannot."""
    frame, target = make_table("multiclass", n=150)
    run = tc.train(data=frame, target=target, out=tmp_path / "frame",
                   **{k: v for k, v in SETTINGS.items() if k != "n_samples"})
    text = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert len(_decoded_images(text)) > 1  # the curves and the pictures of the rows
    from torchclassify.cli import main

    assert main(["report", str(run.run_dir), "-o", str(tmp_path / "again.html")]) == 0
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert len(_decoded_images(again)) == 1 and "in-memory DataFrame" in again  # the curves only, and why
    assert main(["plot", str(run.run_dir), "--kind", "boundary"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot draw boundary: ") and "in-memory DataFrame" in err


def test_html_page_and_figure_to_data_uri():
    from matplotlib.figure import Figure

    page = html_page("a <b> & c", [("First part", "<p>one</p>"), ("Second & last", "<p>two</p>")])
    assert "<title>a &lt;b&gt; &amp; c</title>" in page
    assert '<section id="first-part">' in page and "<h2>Second &amp; last</h2>" in page
    assert page.index("<p>one</p>") < page.index("<p>two</p>")
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    png = figure_to_data_uri(fig)
    assert Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).size == (200, 200)
    svg = figure_to_data_uri(fig, format="svg")
    assert svg.startswith("data:image/svg+xml;base64,")
    assert b"<svg" in base64.b64decode(svg.split(",", 1)[1])
    with pytest.raises(ValueError):
        figure_to_data_uri(fig, format="gif")


def test_help_and_predict_do_not_import_matplotlib(blobs_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n1.0,2.0\n-3.0,4.0\n")
    script = (
        "import sys\n"
        "from torchclassify.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'matplotlib' not in sys.modules, 'help imported matplotlib'\n"
        f"assert main(['predict', {str(blobs_run.run_dir)!r}, {str(rows)!r}, '-o', {str(tmp_path / 'p.csv')!r}]) == 0\n"
        "assert 'matplotlib' not in sys.modules, 'predict imported matplotlib'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "p.csv").exists()


def test_the_report_runs_the_model_once_per_split(blobs_run):
    from torchclassify.engine.inference import SCORING_ROWS
    from torchclassify.report import RunView, build_report
    from torchclassify.report_tables import REPORT_REPEATS

    view = RunView.from_run(blobs_run)
    rows_seen = []  # the batch size of every forward pass of the network
    hook = blobs_run.classifier.model.register_forward_hook(lambda module, inputs, output: rows_seen.append(len(inputs[0])))
    try:
        text = build_report(view)
    finally:
        hook.remove()
    n_eval = len(view.splits[view.eval_split])
    n_shuffled = 1 + len(view.classifier.feature_columns) * REPORT_REPEATS
    # The evaluation split once (confusion, ROC, PR, calibration and the loss tables share it), the boundary's
    # 100 x 100 grid once (SCORING_ROWS at a time); the training rows are only scattered, never predicted.
    # Permutation importance scores its own copies: the split unshuffled (scikit-learn's baseline), then each
    # column shuffled.
    grid = [min(SCORING_ROWS, 100 * 100 - start) for start in range(0, 100 * 100, SCORING_ROWS)]
    assert sorted(rows_seen) == sorted([n_eval, *grid] + [n_eval] * n_shuffled)
    assert len(_decoded_images(text)) == N_PICTURES
    y_true, y_proba = view.scores(view.eval_split)
    assert view.scores(view.eval_split)[1] is y_proba  # kept, not predicted again
    assert y_true.shape == (n_eval,) and y_proba.shape == (n_eval, len(blobs_run.classifier.classes))
    assert np.allclose(y_proba.sum(axis=1), 1.0)


def test_scores_have_the_task_shapes(tmp_path):
    from torchclassify.report import RunView

    for source, shape in (("moons", lambda n: (n,)), ("multilabel", lambda n: (n, 5))):  # 5 labels
        run = tc.train(data=source, **SETTINGS)
        view = RunView.from_run(run)
        y_true, y_proba = view.scores("test")
        n = len(view.splits["test"])
        assert y_proba.shape == shape(n) and y_true.shape == shape(n)
        X, _ = view.rows("test")
        assert np.allclose(y_proba, run.classifier.predict_proba_tensor(X).numpy())


def test_a_weak_pca_plane_is_noted_in_the_report(blobs_run, tmp_path):
    # The toy multilabel data has six noisy columns: two principal components keep under half the variance.
    run = tc.train(data="multilabel", out=tmp_path / "labels", **SETTINGS)
    text = (run.run_dir / "report.html").read_text(encoding="utf-8")
    notes = re.findall(r'<p class="note">([^<]*)</p>', text)
    assert len(notes) == 1 and "keeps only" in notes[0] and "--features " in notes[0]
    # blobs has two columns, drawn as they are: no note.
    assert 'class="note"' not in (blobs_run.run_dir / "report.html").read_text(encoding="utf-8")


def test_a_broken_matplotlib_costs_the_report_not_the_trained_model(tmp_path, monkeypatch):
    """train imports matplotlib early (a speed-up); if that import fails the run still trains and saves, and
    the report's pictures become warnings, as before the early import."""
    import sys

    from conftest import cli_in_process

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib...` now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = cli_in_process("train", "--data", "circles", "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "model.safetensors").exists() and "could not be drawn" in result.stderr


def test_the_report_predicts_on_the_runs_threads_and_gives_the_callers_back(blobs_run, monkeypatch):
    """On a busy machine torch's default of every core made each small prediction wait for a descheduled
    thread: the report predicts on the threads the run's config asks for (or training's rule), then restores."""
    import torch

    from torchclassify.report import RunView, build_report

    view = RunView.from_run(blobs_run)
    view.config.setdefault("train", {})["threads"] = 1
    seen, model = [], view.classifier.model
    real_forward = model.forward
    monkeypatch.setattr(model, "forward", lambda X: (seen.append(torch.get_num_threads()), real_forward(X))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        build_report(view)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
