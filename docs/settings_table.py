"""Write docs/settings.md's table of settings from `config.SETTINGS`, between its two markers.

Run from the repository root after changing a setting's row:

    make docs

tests/unit/test_settings_page.py fails while the page shows anything else.
"""

from __future__ import annotations

from pathlib import Path

from config import ABOVE, MIB, SETTINGS, Setting, as_text

PAGE = Path(__file__).resolve().parent / "settings.md"
BEGIN = "<!-- Written by `make docs` from config.SETTINGS: edit the rows there, not this table. -->"
END = "<!-- End of the table written by `make docs`. -->"


def table() -> str:
    """The settings as a Markdown table: the variable and its older names, the default as
    users see it, and what it does. Variables documented together share a line."""
    lines: list[list[str]] = []
    for row in SETTINGS:
        if row.doc == ABOVE:
            lines[-1][0] += f", {names(row)}"
        else:
            lines.append([names(row), shown_default(row), row.doc])
    return "\n".join(
        ["| variable | default | meaning |", "|---|---|---|"]
        + [f"| {' | '.join(cells)} |" for cells in lines]
    )


def names(row: Setting) -> str:
    """`REUSE_IMAGES` (or `REUSE_PICTURES`): the name, and the older ones that still work."""
    older = ", ".join(f"`{alias}`" for alias in row.aliases)
    return f"`{row.env}`" + (f" (or {older})" if older else "")


def shown_default(row: Setting) -> str:
    """The default as the page shows it: its own words, the text read, or — for none."""
    if row.shown:
        return row.shown
    text = as_text(row.default)
    if not text:
        return "—"
    if text.isdigit() and int(text) >= MIB and int(text) % MIB == 0:
        return f"`{text}` ({int(text) // MIB} MiB)"
    return f"`{text}`"


def with_table(page: str) -> str:
    """`page` with the current table between its markers."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{PAGE.name} lacks the markers the table goes between")
    return f"{head}{BEGIN}\n\n{table()}\n\n{END}{tail}"


def main() -> None:
    PAGE.write_text(with_table(PAGE.read_text()))


if __name__ == "__main__":
    main()
