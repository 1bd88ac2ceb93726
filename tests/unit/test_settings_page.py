"""docs/settings.md shows the settings as config.py declares them; `make docs` writes it."""

from config import SETTINGS
from docs.settings_table import PAGE, names, shown_default, with_table


def test_the_settings_page_holds_the_table_the_declaration_renders() -> None:
    page = PAGE.read_text()
    assert page == with_table(page), "docs/settings.md is out of date: run make docs"


def test_a_line_shows_older_names_and_the_default_as_users_write_it() -> None:
    row = {row.env: row for row in SETTINGS}
    assert names(row["REUSE_IMAGES"]) == "`REUSE_IMAGES` (or `REUSE_PICTURES`)"
    assert shown_default(row["UPSTREAM_TIMEOUT"]) == "`120`"
    assert shown_default(row["MAX_BODY_BYTES"]) == "`52428800` (50 MiB)"
    assert shown_default(row["FORWARDED_ALLOW_IPS"]).startswith("`127.0.0.1,::1`")
    assert shown_default(row["REDIS_URL"]) == "—"
