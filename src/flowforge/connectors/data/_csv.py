"""CSV to JSON and JSON to CSV."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from flowforge.connectors.data._common import (
    _MISSING,
    MAX_ITEMS,
    MAX_TEXT,
    _invalid,
    _items,
    _Params,
)
from flowforge.connectors.sdk import MAX_BLOB_BYTES, Blob, Context


class CsvToJsonParams(_Params):
    text: str | None = Field(None, max_length=MAX_TEXT, description="The CSV as text")
    blob: Blob | None = Field(None, description="The CSV as a stored file")
    delimiter: str = Field(",", min_length=1, max_length=1, description="The field separator")
    header: bool = Field(
        True, description="The first row names the fields; otherwise rows are lists"
    )
    typed: bool = Field(
        False, description="Turn numbers into numbers (not those with leading zeros, like 007)"
    )
    encoding: Literal["utf-8", "utf-16", "latin-1", "cp1252"] = Field(
        "utf-8", description="How a blob's bytes are text (a UTF-8 BOM is skipped)"
    )
    max_rows: int = Field(MAX_ITEMS, ge=1, le=MAX_ITEMS)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.text is None) == (self.blob is None):
            raise ValueError("give exactly one of 'text' and 'blob'")
        if self.delimiter in ('"', "\n", "\r"):
            raise ValueError("delimiter: a quote or a line break cannot separate fields")
        return self


class CsvToJsonResult(BaseModel):
    rows: list[Any] = Field(description="Objects keyed by the header, or lists without one")
    columns: list[str] = Field(description="The header's names (empty without a header)")
    count: int


_INT = re.compile(r"[+-]?(0|[1-9]\d{0,17})")
_FLOAT = re.compile(r"[+-]?(0|[1-9]\d*)?(\.\d+)?([eE][+-]?\d{1,3})?")


def _typed(cell: str) -> Any:
    if _INT.fullmatch(cell):
        return int(cell)
    if len(cell) <= 40 and any(c.isdigit() for c in cell) and _FLOAT.fullmatch(cell):
        number = float(cell)
        return number if math.isfinite(number) else cell
    return cell


def _csv_text(params: CsvToJsonParams, ctx: Context) -> str:
    if params.text is not None:
        return params.text
    assert params.blob is not None
    if params.blob.size > MAX_BLOB_BYTES:
        raise _invalid(f"blob: {params.blob.size:,} bytes is over the limit", "TooLarge")
    data = ctx.read_blob(params.blob)
    encoding = "utf-8-sig" if params.encoding == "utf-8" else params.encoding
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"blob: byte {exc.start} is not {params.encoding} text; set 'encoding'"
        ) from None


def csv_to_json(params: CsvToJsonParams, ctx: Context) -> CsvToJsonResult:
    """Read CSV text or a CSV file into a list of objects (or of lists)."""
    text = _csv_text(params, ctx)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=params.delimiter, strict=True)
    convert: Callable[[str], Any] = _typed if params.typed else str
    columns: list[str] = []
    rows: list[Any] = []
    try:
        for record in reader:
            if not record:
                continue  # blank lines
            if params.header and not columns:
                columns = record
                duplicates = sorted({c for c in columns if columns.count(c) > 1})
                if duplicates:
                    raise _invalid(f"the header names {duplicates} more than once")
                continue
            if len(rows) >= params.max_rows:
                raise _invalid(
                    f"the CSV has more than {params.max_rows:,} rows (max_rows)", "TooLarge"
                )
            if columns and len(record) != len(columns):
                raise _invalid(
                    f"line {reader.line_num}: {len(record)} fields where the header has "
                    f"{len(columns)}",
                    "MalformedCsv",
                )
            cells = [convert(cell) for cell in record]
            rows.append(dict(zip(columns, cells, strict=True)) if columns else cells)
            if len(rows) % 10_000 == 0:
                ctx.raise_if_cancelled()
    except csv.Error as exc:  # among them a field over csv's limit of 131,072 characters
        raise _invalid(f"line {reader.line_num}: malformed CSV ({exc})", "MalformedCsv") from None
    return CsvToJsonResult(rows=rows, columns=columns, count=len(rows))


class JsonToCsvParams(_Params):
    items: list[Any] | None = Field(
        None, max_length=MAX_ITEMS, description="Objects, one per row; the node's input if absent"
    )
    columns: list[str] | None = Field(
        None,
        max_length=10_000,
        description="Column order; every key met, in order of appearance, if absent",
    )
    delimiter: str = Field(",", min_length=1, max_length=1)
    header: bool = Field(True, description="Write the column names first")
    escape_formulas: bool = Field(
        False, description="Prefix cells starting with = + - @ with ' so spreadsheets show text"
    )
    as_blob: bool = Field(False, description="Give a stored file instead of text")
    name: str = Field("data.csv", min_length=1, max_length=200, description="The file's name")


class JsonToCsvResult(BaseModel):
    text: str | None = Field(None, description="The CSV, unless as_blob")
    file: Blob | None = Field(None, description="The CSV file, when as_blob")
    rows: int
    columns: list[str]


def _cell(value: Any, escape: bool) -> str:
    if value is None or value is _MISSING:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    # Only texts: a negative number is data, not a formula.
    if escape and isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def json_to_csv(params: JsonToCsvParams, ctx: Context) -> JsonToCsvResult:
    """Write a list of objects as CSV text, or as a CSV file."""
    items = _items(params, ctx)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _invalid(f"items[{index}] is a {type(item).__name__}, not an object")
    columns = params.columns
    if columns is None:
        columns = list(dict.fromkeys(str(k) for item in items for k in item))
    limit = MAX_BLOB_BYTES if params.as_blob else MAX_TEXT
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=params.delimiter, lineterminator="\r\n")
    if params.header:
        writer.writerow(columns)
    for index, item in enumerate(items):
        writer.writerow([_cell(item.get(c), params.escape_formulas) for c in columns])
        if index % 10_000 == 0 and out.tell() > limit:
            break
    text = out.getvalue()
    if len(text) > limit:
        hint = "" if params.as_blob else "; set as_blob for larger files"
        raise _invalid(f"the CSV is over {limit:,} characters{hint}", "TooLarge")
    if params.as_blob:
        file = ctx.put_blob(text.encode(), "text/csv", params.name)
        return JsonToCsvResult(file=file, rows=len(items), columns=columns)
    return JsonToCsvResult(text=text, rows=len(items), columns=columns)
