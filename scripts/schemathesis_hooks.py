"""Serializers for the import bodies of the OpenAPI document, so that schemathesis can send
them: a list of records becomes NDJSON (one JSON object per line) or CSV (a header row naming
the columns, list cells joined by ';'). Anything else is sent as its text, for negative cases.
Loaded by scripts/schemathesis through SCHEMATHESIS_HOOKS."""

import csv
import io
import json

import schemathesis


def _records(value):
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None


@schemathesis.serializer("application/x-ndjson")
def ndjson_serializer(ctx, value):
    if isinstance(value, bytes):
        return value
    records = _records(value)
    if records is None:
        return str(value).encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


@schemathesis.serializer("text/csv")
def csv_serializer(ctx, value):
    if isinstance(value, bytes):
        return value
    records = _records(value)
    if records is None:
        return str(value).encode("utf-8")
    columns = sorted({key for r in records for key in r})
    if not columns:
        return b""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in records:
        row = []
        for column in columns:
            cell = r.get(column)
            if cell is None:
                row.append("")
            elif isinstance(cell, list):
                row.append(";".join(str(c) for c in cell))
            else:
                row.append(str(cell))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")
