"""The pieces every HTML page of torchclassify is made of: one self-contained page (inline CSS, images as
data: URIs, no scripts, no network), figures, tables and readable numbers.

report.html, compare.html and tune.html are all built from these; `html_page` and `figure_to_data_uri` keep
their signatures (report.py re-exports them).
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #2166ac; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #f5f7fa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 0 0 12px; color: var(--accent); }
h3 { font-size: 1em; margin: 16px 0 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
          margin: 16px 0; overflow-x: auto; }
nav { font-size: 0.9em; color: var(--muted); }
nav a { color: var(--accent); margin-right: 12px; text-decoration: none; }
table { border-collapse: collapse; font-size: 0.9em; margin: 4px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 8px 0 16px; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
.row figure { flex: 1 1 380px; min-width: 0; margin: 8px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
figcaption { font-size: 0.85em; color: var(--muted); }
pre { background: #f0f4f8; padding: 10px; border-radius: 4px; font-size: 0.85em; overflow-x: auto;
      white-space: pre-wrap; overflow-wrap: anywhere; }
/* Text cells (names, paths, sentences) may break anywhere so a table never outgrows its panel, but keep
   a readable width first; numbers never break. */
td.wrap { min-width: 9em; }
/* Settings ("optimizer=adamw weight_decay=0.0001"): wide enough that one setting rarely breaks inside. */
td.wrap.settings { min-width: 16em; }
td.wrap, td.wrap code { overflow-wrap: anywhere; }
td ul { margin: 0; padding-left: 1.1em; }
.note { border-left: 4px solid #d95f02; background: #fff7ec; padding: 6px 10px; margin: 8px 0; }
.muted { color: var(--muted); }
"""


def _anchor(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-") or "section"


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """A complete self-contained HTML page: inline CSS, no scripts, no external resources.

    title: the page title (escaped here).
    sections: (heading, inner HTML) pairs; the heading is escaped, the inner HTML is used as given.
    Returns the page as one string.
    """
    nav = " ".join(f'<a href="#{_anchor(h)}">{html.escape(h)}</a>' for h, _ in sections)
    body = "\n".join(
        f'<section id="{_anchor(h)}">\n<h2>{html.escape(h)}</h2>\n{inner}\n</section>' for h, inner in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # No network: forbid every external fetch, allow only inline styles and data: images.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{html.escape(title)}</h1>\n<nav>{nav}</nav>\n{body}\n</main>\n</body>\n</html>\n"
    )


def figure_to_data_uri(fig, format: str = "png") -> str:
    """A matplotlib figure as a data: URI (PNG at 100 dpi, or SVG), ready for <img src="...">."""
    if format not in ("png", "svg"):
        raise ValueError(f"format must be 'png' or 'svg', got {format!r}")
    buffer = io.BytesIO()
    # No bbox_inches="tight": it draws the figure twice; the plots package lays its figures out with
    # fixed margins.
    # compress_level 1: PNG encoding was a tenth of the report's time; the files grow about 10%.
    options = {"pil_kwargs": {"compress_level": 1}} if format == "png" else {}
    fig.savefig(buffer, format=format, dpi=100, **options)
    mime = "image/png" if format == "png" else "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def figure_html(fig, alt: str, caption: str = "", format: str = "png") -> str:
    """A figure as a <figure> block: the image (scaled down to its panel, never wider) and a caption."""
    caption_html = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{figure_to_data_uri(fig, format)}" alt="{html.escape(alt)}">{caption_html}</figure>'


def significant(value, digits: int = 3) -> str:
    """A number for a page: `digits` significant digits ('0.00245', not '0.0024517017066750784').

    Whole numbers stay whole, None is '-', NaN and inf are spelled out.
    """
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    """An HTML table: header cells, then rows; columns from numeric_from on are numbers (right-aligned,
    never broken, floats to 4 decimals), the others text that may wrap. A header of empty strings: no head."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
            css = ' class="num"' if i >= numeric_from else ' class="wrap"'
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if any(str(h) for h in header) else ""  # key-value tables: none
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"
