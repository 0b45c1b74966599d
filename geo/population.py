"""Reading ONS ward population estimates (single year of age, one row per ward).

The format is that of the shared `ward_population_mid2022_wards2023_ew.csv.gz`: a
header `wd23cd, age_0 ... age_89, age_90_plus`, then one row per ward code, counts
as plain integers. Gzipped or not. Reading checks every row before anything is
loaded: a bad row stops the read with a message naming its line, so a load never
keeps half a file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

ADULT_AGE = 18
AGE_COLUMNS = [f"age_{age}" for age in range(90)] + ["age_90_plus"]
WARD_CODE = re.compile(r"^[EWSN]\d{8}$")
YEAR_IN_NAME = re.compile(r"mid[-_]?(\d{4})", re.IGNORECASE)
# One ward has fewer than a hundred people and the largest some tens of thousands:
# a count above this is a misplaced column or a file of something else.
MAX_COUNT = 10_000_000


class PopulationFileError(ValueError):
    """A file that cannot be loaded, with where and why, for a person to fix."""


@dataclass(frozen=True)
class WardPopulationRow:
    ward_code: str
    adults: int  # aged 18 and over
    all_ages: int


@dataclass
class PopulationRead:
    rows: list[WardPopulationRow] = field(default_factory=list)
    lines: int = 0
    # Codes that appeared on more than one line (ONS's file has one): their counts are
    # added together, as the source's README says.
    merged: dict[str, int] = field(default_factory=dict)


def year_from_name(name: str) -> int | None:
    """The estimate's year in a file name like ..._mid2022_..., else None."""
    found = YEAR_IN_NAME.search(name)
    return int(found.group(1)) if found else None


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_ward_population(path: Path) -> PopulationRead:
    """Every ward's adults and all-ages count, or PopulationFileError naming the line."""
    try:
        with _open_text(path) as handle:
            return _read(csv.reader(handle), path.name)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as error:
        raise PopulationFileError(f"{path.name} cannot be read as CSV text: {error}") from None


def _read(reader, name: str) -> PopulationRead:
    header = next(reader, None)
    if header is None:
        raise PopulationFileError(f"{name} is empty: expected a header line starting wd23cd")
    header = [column.strip().lower() for column in header]
    missing = [c for c in ["wd23cd", *AGE_COLUMNS] if c not in header]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise PopulationFileError(
            f"{name} line 1: the header lacks {shown}; expected wd23cd, age_0 ... age_89, "
            "age_90_plus"
        )
    code_at = header.index("wd23cd")
    age_at = [header.index(column) for column in AGE_COLUMNS]
    totals: dict[str, list[int]] = {}
    result = PopulationRead()
    for line_number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        result.lines += 1
        where = f"{name} line {line_number}"
        if len(row) != len(header):
            raise PopulationFileError(
                f"{where}: {len(row)} values where the header has {len(header)} columns"
            )
        code = row[code_at].strip().upper()
        if not WARD_CODE.match(code):
            raise PopulationFileError(
                f"{where}: {row[code_at][:20]!r} is not a ward code (like E05013038)"
            )
        counts = []
        for column, at in zip(AGE_COLUMNS, age_at, strict=True):
            value = row[at].strip().replace(",", "")
            if not (value.isascii() and value.isdigit()) or int(value) > MAX_COUNT:
                raise PopulationFileError(
                    f"{where} ({code}): {column} is {row[at][:20]!r}, not a count of people"
                )
            counts.append(int(value))
        adults = sum(counts[ADULT_AGE:])
        everyone = sum(counts)
        if code in totals:
            totals[code][0] += adults
            totals[code][1] += everyone
            result.merged[code] = result.merged.get(code, 1) + 1
        else:
            totals[code] = [adults, everyone]
    if not totals:
        raise PopulationFileError(f"{name} has a header but no ward rows")
    result.rows = [WardPopulationRow(code, a, n) for code, (a, n) in sorted(totals.items())]
    return result
