"""Report building blocks (tables, figures, sections) and their two renderings: one
self-contained HTML page (figures inlined as PNG data URIs, no external resources) and
markdown (figures as PNG files beside it)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

# Numbers (with an interval, a note in brackets, a significance star or a † warning), p-values and n/a
# right-align; text columns left-align.
_NUMERIC_CELL = re.compile(r"^([<\u2212+-]?\s?[\d.]+( \[.*\])?( \(.*\))?( \*)?( \u2020)?|n/a|source|)$")


@dataclass(frozen=True)
class Table:
    columns: list[str]
    # A row of one cell is a group heading (e.g. a language family) spanning the table.
    rows: list[list[str]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    file_name: str
    png: bytes
    caption: str


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0 0.3em; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f3f3f3; vertical-align: bottom; } .num { text-align: right; white-space: nowrap; }
.table { overflow-x: auto; }  /* a table wider than the page scrolls instead of being cut off */
td.group { text-align: left; font-weight: 600; background: #fafafa; padding-top: 0.6em; white-space: normal; }
.caption { font-size: 0.85em; color: #555; max-width: 70em; margin-bottom: 1.2em; }
img { max-width: 100%; display: block; margin-top: 1em; }
"""


def render_html(title: str, sections: list[Section]) -> str:
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
             f"<h1>{html.escape(title)}</h1>\n"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>\n")
        parts += [f"<p>{html.escape(p)}</p>\n" for p in section.paragraphs]
        for table in section.tables:
            parts.append(_html_table(table))
        for figure in section.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            parts.append(f"<img src=\"data:image/png;base64,{data}\" alt=\"{html.escape(figure.caption)}\">\n"
                         f"<p class=\"caption\">{html.escape(figure.caption)}</p>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _numeric_columns(table: Table) -> list[bool]:
    rows = [row for row in table.rows if len(row) > 1]
    return [bool(rows) and all(_NUMERIC_CELL.match(row[i]) for row in rows) for i in range(len(table.columns))]


def _html_table(table: Table) -> str:
    numeric = [" class=\"num\"" if n else "" for n in _numeric_columns(table)]
    head = "".join(f"<th{a}>{html.escape(c)}</th>" for c, a in zip(table.columns, numeric))
    body = []
    for row in table.rows:
        if len(row) == 1:
            body.append(f"<tr><td class=\"group\" colspan=\"{len(table.columns)}\">{html.escape(row[0])}</td></tr>")
        else:
            body.append("<tr>" + "".join(f"<td{a}>{html.escape(cell)}</td>" for cell, a in zip(row, numeric)) + "</tr>")
    caption = f"<p class=\"caption\">{html.escape(table.caption)}</p>\n" if table.caption else ""
    return (f"<div class=\"table\"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table></div>\n" + caption)


def render_markdown(title: str, sections: list[Section], figure_dir: str) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for table in section.tables:
            lines += _markdown_table(table)
        for figure in section.figures:
            lines += [f"![{figure.file_name}]({figure_dir}/{figure.file_name})", "", f"*{figure.caption}*", ""]
    return "\n".join(lines)


def _markdown_table(table: Table) -> list[str]:
    def cells(row: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"

    lines = [cells(table.columns), "|" + "|".join("---:" if n else "---" for n in _numeric_columns(table)) + "|"]
    for row in table.rows:
        lines.append(cells([f"**{row[0]}**"] + [""] * (len(table.columns) - 1)) if len(row) == 1 else cells(row))
    lines.append("")
    if table.caption:
        lines += [table.caption, ""]
    return lines
