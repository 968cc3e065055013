"""The run report: one self-contained report.html per run (images as data URIs, inline CSS, no network).

`html_page` and `figure_to_data_uri` are the reusable pieces (compare.html uses them too); their
signatures stay stable. `build_report(run)` / `write_report(run_dir)` assemble the run's page.
"""

from __future__ import annotations

import base64
import html
import io

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
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
figcaption { font-size: 0.85em; color: var(--muted); }
pre { background: #f0f4f8; padding: 10px; border-radius: 4px; font-size: 0.85em; overflow-x: auto; }
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
    fig.savefig(buffer, format=format, dpi=100, bbox_inches="tight")
    mime = "image/png" if format == "png" else "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
