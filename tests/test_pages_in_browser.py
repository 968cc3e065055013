"""The HTML pages in a real browser: report.html (three tasks), compare.html and tune.html, measured in
headless Chromium at a laptop's 1280 px and a narrow 800 px. Nothing may be wider than its section's panel.

Chromium is driven over the DevTools protocol on a pipe (tests/_browser.py); the measurement runs from the
test, not from the page, whose Content-Security-Policy forbids scripts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from _browser import Browser, find_chromium
from torchclassify.compare import compare
from torchclassify.report import html_page
from torchclassify.tune import tune

pytestmark = pytest.mark.usefixtures("one_thread")

CHROMIUM = find_chromium()
WIDTHS = (1280, 800)
SETTINGS = dict(epochs=12, hidden=[16], lr=0.03, batch_size=0, progress="quiet")
N_PICTURES = 6  # a report's curves, boundary, confusion, ROC, PR, calibration
SONGS = Path(__file__).resolve().parents[1] / "examples" / "songs.csv"  # mood_happy, mood_sad, mood_calm
LONG_CLASSES = ["a rather long class name", "another_class_name_without_spaces_at_all", "short"]

# Every element of every <section> must lie inside the section's content box (1 px of rounding allowed),
# no section may scroll sideways, the page itself may not, and every image must have decoded.
MEASURE = r"""
(() => {
  const problems = [], images = [];
  const page = document.documentElement;
  if (page.scrollWidth > innerWidth) problems.push({where: "page", scrollWidth: page.scrollWidth, innerWidth});
  for (const section of document.querySelectorAll("section")) {
    const box = section.getBoundingClientRect(), style = getComputedStyle(section);
    const left = box.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft);
    const right = box.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight);
    if (section.scrollWidth > section.clientWidth)
      problems.push({where: section.id, what: "section scrolls", scrollWidth: section.scrollWidth,
                     clientWidth: section.clientWidth});
    for (const el of section.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < left - 1 || r.right > right + 1)
        problems.push({where: section.id, what: el.tagName.toLowerCase(), text: (el.textContent || "").slice(0, 60),
                       left: Math.round(r.left), right: Math.round(r.right), panel: [Math.round(left), Math.round(right)]});
    }
    for (const img of section.querySelectorAll("img"))
      images.push({section: section.id, decoded: img.complete && img.naturalWidth > 0,
                   scale: img.getBoundingClientRect().width / Math.max(img.naturalWidth, 1)});
  }
  const heading = document.querySelector("h1");
  return {problems, images, heading: heading ? heading.getBoundingClientRect().height : 0,
          text: document.body.innerText.length};
})()
"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI") or os.environ.get("TORCHCLASSIFY_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed, and CI must run the browser check: install Debian's 'chromium'")
        pytest.skip("chromium is not installed (apt-get install chromium): the pages cannot be measured in a browser")
    with Browser(CHROMIUM) as session:
        yield session


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """name -> path of every page kind, on small runs that still stress the layout (long names)."""
    root = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(0)
    # Multiclass from a file (so the report can rebuild its rows), six columns (a weak PCA plane, so the
    # note shows) and long class names (ticks and legend).
    X = rng.normal(size=(300, 6))
    table = pd.DataFrame(X, columns=[f"feature_{k}" for k in range(6)])
    table["kind"] = np.array(LONG_CLASSES)[np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])]
    table.to_csv(root / "long_names.csv", index=False)
    tc.train(data="moons", n_samples=200, out=root / "binary", **SETTINGS)
    tc.train(data=str(root / "long_names.csv"), target="kind", out=root / "multiclass", **SETTINGS)
    tc.train(data=str(SONGS), target="mood_*", task="multilabel", out=root / "multilabel", **SETTINGS)
    variants = [{"hidden": [], "optimizer": "sgd", "lr": 0.1},
                {"hidden": [16, 16], "optimizer": "adamw", "lr": 0.01, "weight_decay": 1e-4, "dropout": 0.1}]
    compare(tc.make_config(source="circles", n_samples=200, epochs=10, batch_size=0), variants, seeds=[0, 1],
            out=root / "compare")
    # The default space: five settings per trial make the trials table's longest cells.
    tune(tc.make_config(source="moons", n_samples=150, epochs=6, batch_size=0), None, n_trials=3,
         out=root / "tune", sampler_seed=0)
    return {"report binary": root / "binary" / "report.html", "report multiclass": root / "multiclass" / "report.html",
            "report multilabel": root / "multilabel" / "report.html", "compare": root / "compare" / "compare.html",
            "tune": root / "tune" / "tune.html"}


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_its_panels(browser, pages, width):
    for name, path in pages.items():
        browser.open(path.as_uri(), width)
        measured = browser.evaluate(MEASURE)
        assert measured["heading"] > 10 and measured["text"] > 300, (name, measured)  # it rendered, with text
        assert measured["problems"] == [], f"{name} at {width} px: {measured['problems'][:5]}"
        images = measured["images"]
        assert images and all(image["decoded"] for image in images), (name, images)
        if name.startswith("report"):
            assert len(images) == N_PICTURES, (name, images)
        # Scaled into the panel, never so far that the picture's text becomes unreadable.
        assert min(image["scale"] for image in images) >= 0.65, (name, width, images)


def test_the_measurement_catches_an_element_wider_than_its_panel(browser, tmp_path):
    # A page the checks must reject: an unbreakable cell wider than any panel, in a plain table.
    page = tmp_path / "wide.html"
    page.write_text(html_page("too wide", [("Wide", f"<table><tr><td>{'x' * 400}</td></tr></table>")]),
                    encoding="utf-8")
    browser.open(page.as_uri(), 800)
    problems = browser.evaluate(MEASURE)["problems"]
    assert any(p.get("what") == "section scrolls" for p in problems)
    assert any(p.get("what") == "td" for p in problems)
