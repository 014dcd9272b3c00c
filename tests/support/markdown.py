"""Reading back the markdown tables the reports write, so tests check cells, not padding."""

from __future__ import annotations


def table_after(text: str, heading: str) -> list[dict[str, str]]:
    """The first pipe table after `heading`, as one dict per row keyed by the header cells."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, _separator, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]
