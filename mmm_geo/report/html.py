"""Self-contained HTML: number formatting, tables, embedded PNG figures, sections and the page.

Figures are embedded as base64 ``data:`` URIs and the style sheet is inline, so the file opens
offline with nothing beside it. Table cells carry ``data-col`` with the column they show.
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Iterable, Sequence, Tuple

import pandas as pd

Spec = Sequence[Tuple[str, str, str]]   # (column, header, kind)

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;
line-height:1.45;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1rem 2rem 4rem;background:#fff}
nav{background:#243447;color:#fff;padding:.6rem 2rem;position:sticky;top:0;font-size:.9rem}
nav a{color:#cfe3ff;margin-right:1rem;text-decoration:none}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{border-bottom:2px solid #243447;margin-top:2.2rem}
h3{margin-top:1.6rem;color:#243447}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem;text-align:right}
th{background:#eef2f6} td:first-child,th:first-child{text-align:left}
figure{margin:.8rem 0;display:inline-block;vertical-align:top}
figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.8rem;color:#555;max-width:900px}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.4rem .8rem;font-size:.9rem}
.bad{background:#fde8e6;border-left:4px solid #d73027;padding:.4rem .8rem}
.good{color:#1a7f3c;font-weight:600} .poor{color:#c0392b;font-weight:600}
.uncertain{color:#666;font-weight:600}
.summary li{margin:.25rem 0} .muted{color:#666;font-size:.85rem}
#planner input[type=range]{width:260px} #planner output{font-weight:600}
"""


def money(value, currency: str = "") -> str:
    """An amount with the currency in front: ``money(-2500, "$")`` is ``-$2.5 k``."""
    text = fmt(value, "money")
    return text if text == "–" else (f"-{currency}{text[1:]}" if text.startswith("-")
                                     else f"{currency}{text}")


def fmt(value, kind: str = "num") -> str:
    """Display text of a number. Kinds: ``ratio`` (2 decimals), ``r3`` (3 decimals), ``pct`` (a
    share as %, 1 decimal),
    ``prob`` (a probability as whole %), ``money``/``num`` (3 significant digits with k, m, bn),
    ``int``, ``text``."""
    if kind == "text":
        return str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value) + 0.0
    if kind == "r3":
        return f"{v:,.3f}"
    if kind == "ratio":
        return f"{v:,.2f}"
    if kind == "pct":
        return f"{round(100 * v, 1) + 0.0:.1f}%"
    if kind == "prob":
        return f"{100 * v:.0f}%"
    if kind == "int":
        return f"{v:,.0f}"
    v = float(f"{v:.3g}")      # 3 significant digits first: 999,800 is "1 m", not "1e+03 k"
    for scale, suffix in ((1e9, " bn"), (1e6, " m"), (1e3, " k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def slug(name: str) -> str:
    """An HTML id fragment for a channel or geo name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "x"


def esc(text) -> str:
    """Escaped text."""
    return html.escape(str(text))


def table(frame: pd.DataFrame, spec: Spec, table_id: str) -> str:
    """An HTML table of ``frame``'s columns in ``spec`` (column, header, kind)."""
    spec = [s for s in spec if s[0] in frame.columns]
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in spec)
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(f'<td data-col="{esc(c)}">{esc(fmt(row[c], k))}</td>' for c, _, k in spec)
        rows.append(f"<tr>{cells}</tr>")
    return (f'<table id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def figure(name: str, data: bytes, caption: str, width: int | None = None) -> str:
    """An embedded PNG with a caption; ``name`` is its file name in figures/."""
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    style = f' style="max-width:{width}px"' if width else ""
    return (f'<figure id="fig-{esc(slug(name))}"{style}><img alt="{esc(caption)}" src="{src}">'
            f"<figcaption>{esc(caption)} <span class='muted'>(figures/{esc(name)}.png)</span>"
            "</figcaption></figure>")


def section(section_id: str, title: str, body: str, level: int = 2) -> str:
    """A titled section with an id."""
    return f'<section id="{esc(section_id)}"><h{level}>{esc(title)}</h{level}>{body}</section>'


def items(lines: Iterable[str], cls: str = "") -> str:
    """A bullet list of already-escaped HTML lines."""
    inner = "".join(f"<li>{line}</li>" for line in lines)
    return f'<ul class="{cls}">{inner}</ul>'


def page(title: str, subtitle: str, nav: Sequence[Tuple[str, str]], body: str) -> str:
    """The whole document."""
    links = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in nav)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><nav>{links}</nav><main>"
            f"<h1>{esc(title)}</h1><p class='muted'>{esc(subtitle)}</p>{body}</main></body></html>")
