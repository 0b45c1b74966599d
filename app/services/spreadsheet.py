"""CSV that a spreadsheet opens as text: no cell of ours is ever run as a formula.

Excel, LibreOffice and Google Sheets treat a cell starting with = + - @ as a formula,
and a tab, carriage return, | or % at the start can turn one into a formula or a DDE
call; a leading quote makes the cell plain text (OWASP's "CSV injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def safe_cell(value: object) -> str:
    """The cell as text a spreadsheet shows and never runs.

    >>> safe_cell('=HYPERLINK("http://x")'), safe_cell("12"), safe_cell(None)
    ('\\'=HYPERLINK("http://x")', '12', '')
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV file (CRLF lines, a byte-order mark so Excel reads UTF-8), every
    cell made safe."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
