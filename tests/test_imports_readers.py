"""Reading an uploaded file into numbered rows (kpi_core/imports/readers.py).

CSV: UTF-8 with or without a byte-order mark, comma or semicolon (told apart by
the header), the header is row 1. JSON Lines: one object per line, the first
line is row 1. A problem with the whole file is a FileRejected; a problem with
one row is that row's error, so every row of a bad file can be reported.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_core.imports.readers import MAX_COLUMNS, FileRejected, RawRow, detect_format, read_rows

COLUMNS = ("ref", "name", "amount")


def read_csv(text: str | bytes, columns: tuple[str, ...] = COLUMNS) -> list[RawRow]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_rows(io.BytesIO(data), "csv", columns))


def read_jsonl(text: str | bytes, columns: tuple[str, ...] = COLUMNS) -> list[RawRow]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_rows(io.BytesIO(data), "jsonl", columns))


def numbered(rows: list[RawRow]) -> list[tuple[int, dict]]:
    return [(row.number, row.values) for row in rows]


def errors(rows: list[RawRow]) -> list[tuple[int, str]]:
    return [(row.number, row.error) for row in rows if row.error]


# --- format detection -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "filename", "expected"),
    [
        ("text/csv", None, "csv"),
        ("text/csv; charset=utf-8", None, "csv"),
        ("TEXT/CSV", None, "csv"),
        ("application/x-ndjson", None, "jsonl"),
        ("application/jsonl", None, "jsonl"),
        ("application/octet-stream", "jobs.CSV", "csv"),
        ("application/octet-stream", "jobs.jsonl", "jsonl"),
        ("", "feedback.ndjson", "jsonl"),
    ],
)
def test_format_is_told_by_media_type_or_upload_file_name(content_type, filename, expected):
    assert detect_format(content_type, filename) == expected


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "", "image/png"])
def test_other_media_types_are_rejected_naming_the_accepted_ones(content_type):
    with pytest.raises(FileRejected, match="text/csv or application/x-ndjson"):
        detect_format(content_type)


# --- CSV: encoding and delimiter --------------------------------------------------


def test_utf8_byte_order_mark_is_dropped_from_the_first_column_name():
    rows = read_csv("\ufeffref,name,amount\nR1,Ann,5\n")
    assert numbered(rows) == [(2, {"ref": "R1", "name": "Ann", "amount": "5"})]


def test_semicolon_is_the_delimiter_when_the_header_has_more_semicolons_than_commas():
    rows = read_csv("ref;name;amount\nR1;Smith, Ann;12,50\n")
    assert rows[0].values == {"ref": "R1", "name": "Smith, Ann", "amount": "12,50"}


def test_comma_is_the_delimiter_otherwise():
    rows = read_csv('ref,name,amount\nR1,"Smith; Ann",12.50\n')
    assert rows[0].values == {"ref": "R1", "name": "Smith; Ann", "amount": "12.50"}


def test_non_utf8_bytes_reject_the_file():
    latin1 = "ref,name,amount\nR1,Zoë Müller,5\n".encode("latin-1")
    with pytest.raises(FileRejected, match="not valid UTF-8"):
        read_csv(latin1)


def test_non_utf8_bytes_far_into_the_file_reject_it_too():
    body = "ref,name,amount\n" + "R,Ann,5\n" * 20_000
    with pytest.raises(FileRejected, match="not valid UTF-8"):
        read_csv(body.encode() + "R,Zoë,5\n".encode("latin-1"))


# --- CSV: the header ----------------------------------------------------------------


def test_header_names_are_trimmed_and_case_insensitive_and_may_come_in_any_order():
    rows = read_csv(" Amount ,REF,name\n5,R1,Ann\n")
    assert rows[0].values == {"ref": "R1", "name": "Ann", "amount": "5"}


def test_header_may_name_only_some_columns_but_the_key_column_is_required():
    assert read_csv("ref\nR1\n")[0].values == {"ref": "R1"}
    with pytest.raises(FileRejected, match="'ref' is required"):
        read_csv("name,amount\nAnn,5\n")


def test_unknown_columns_reject_the_file_naming_them():
    with pytest.raises(FileRejected, match="unknown columns: colour, size"):
        read_csv("ref,colour,name,size\nR1,red,Ann,L\n")


def test_a_column_named_twice_rejects_the_file():
    with pytest.raises(FileRejected, match="columns named twice: name"):
        read_csv("ref,name,Name\nR1,Ann,Bob\n")


def test_too_many_columns_reject_the_file():
    with pytest.raises(FileRejected, match=f"at most {MAX_COLUMNS}"):
        read_csv(",".join(f"c{n}" for n in range(MAX_COLUMNS + 1)) + "\n")


@pytest.mark.parametrize("body", ["", "\n", "  \r\n", "\ufeff"])
def test_an_empty_file_is_rejected(body):
    with pytest.raises(FileRejected, match="empty"):
        read_csv(body)


def test_nul_bytes_in_the_header_reject_the_file():
    with pytest.raises(FileRejected, match="NUL"):
        read_csv(b"ref\x00,name\nR1,Ann\n")


def test_a_header_field_over_the_size_limit_rejects_the_file():
    with pytest.raises(FileRejected):
        read_csv("ref,name," + "x" * 200_000 + "\n")


def test_a_header_with_no_data_rows_has_no_rows():
    assert read_csv("ref,name,amount\n") == []


# --- CSV: rows and their numbers ----------------------------------------------------


def test_the_header_is_row_1_and_data_rows_follow_from_row_2():
    rows = read_csv("ref,name\nR1,Ann\nR2,Bob\nR3,Cy\n")
    assert [row.number for row in rows] == [2, 3, 4]


def test_blank_lines_are_skipped_but_still_counted_in_row_numbers():
    rows = read_csv("ref,name\nR1,Ann\n\n , \nR2,Bob\n\n")
    assert numbered(rows) == [(2, {"ref": "R1", "name": "Ann"}), (5, {"ref": "R2", "name": "Bob"})]


def test_crlf_line_endings_are_read_like_lf():
    rows = read_csv("ref,name,amount\r\nR1,Ann,5\r\nR2,Bob,6\r\n")
    assert numbered(rows) == [
        (2, {"ref": "R1", "name": "Ann", "amount": "5"}),
        (3, {"ref": "R2", "name": "Bob", "amount": "6"}),
    ]


def test_a_quoted_field_keeps_embedded_separators_quotes_and_newlines_as_one_row():
    rows = read_csv('ref,name,amount\r\nR1,"Smith, Ann\r\nFlat 2, ""Rose"" House",5\r\nR2,Bob,6\r\n')
    assert numbered(rows) == [
        (2, {"ref": "R1", "name": 'Smith, Ann\r\nFlat 2, "Rose" House', "amount": "5"}),
        (3, {"ref": "R2", "name": "Bob", "amount": "6"}),
    ]


def test_cells_are_trimmed():
    assert read_csv("ref,name\n  R1 ,\tAnn  \n")[0].values == {"ref": "R1", "name": "Ann"}


def test_a_row_with_the_wrong_number_of_cells_is_an_error_of_that_row_only():
    rows = read_csv("ref,name\nR1,Ann\nR2,Bob,extra\nR3\nR4,Dee\n")
    assert errors(rows) == [
        (3, "has 3 cells but the header names 2 columns"),
        (4, "has 1 cells but the header names 2 columns"),
    ]
    assert [row.values["ref"] for row in rows if not row.error] == ["R1", "R4"]


def test_an_unterminated_quote_is_an_error_of_its_row():
    rows = read_csv('ref,name\nR1,Ann\nR2,"Bob\n')
    assert rows[0].values == {"ref": "R1", "name": "Ann"}
    [(number, message)] = errors(rows)
    assert number == 3
    assert message.startswith("unreadable CSV")


def test_a_nul_byte_in_a_row_is_an_error():
    rows = read_csv(b"ref,name\nR1,Ann\nR2,B\x00b\n")
    [(number, message)] = errors(rows)
    assert number == 3
    assert "NUL" in message


def test_a_field_over_the_size_limit_is_an_error_not_a_crash():
    rows = read_csv("ref,name\nR1," + "x" * 100_000 + "\n")
    [(number, message)] = errors(rows)
    assert number == 2
    assert "field larger than field limit" in message


# --- JSON Lines -------------------------------------------------------------------


def test_jsonl_lines_are_rows_numbered_from_1():
    rows = read_jsonl('{"ref": "R1", "amount": 5}\n{"ref": "R2", "name": "Bob"}\n')
    assert numbered(rows) == [(1, {"ref": "R1", "amount": 5}), (2, {"ref": "R2", "name": "Bob"})]


def test_jsonl_blank_lines_are_skipped_but_counted():
    rows = read_jsonl('\n{"ref": "R1"}\r\n   \n{"ref": "R2"}')
    assert numbered(rows) == [(2, {"ref": "R1"}), (4, {"ref": "R2"})]


def test_jsonl_null_is_read_as_an_empty_cell():
    assert read_jsonl('{"ref": "R1", "name": null}\n')[0].values == {"ref": "R1", "name": ""}


def test_jsonl_with_a_byte_order_mark_is_read():
    assert read_jsonl('\ufeff{"ref": "R1"}\n')[0].values == {"ref": "R1"}


@pytest.mark.parametrize("line", ['["R1", "Ann"]', '"R1"', "5", "null", "true"])
def test_jsonl_line_that_is_not_an_object_is_an_error(line):
    rows = read_jsonl('{"ref": "R1"}\n' + line + "\n")
    assert errors(rows) == [(2, "each line must be a JSON object")]


@pytest.mark.parametrize("line", ["{ref: 'R1'}", '{"ref": "R1"', "ref,name", '{"ref": "R1"} trailing'])
def test_jsonl_invalid_json_is_an_error_of_its_line(line):
    rows = read_jsonl(line + '\n{"ref": "R2"}\n')
    [(number, message)] = errors(rows)
    assert number == 1
    assert message.startswith("not valid JSON")
    assert rows[1].values == {"ref": "R2"}


def test_jsonl_integer_too_long_to_convert_is_an_error_not_a_crash():
    rows = read_jsonl('{"ref": ' + "1" * 5000 + "}\n")
    [(number, message)] = errors(rows)
    assert number == 1
    assert message.startswith("not valid JSON")


def test_jsonl_deeply_nested_value_is_an_error_not_a_crash():
    rows = read_jsonl('{"ref": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert len(errors(rows)) == 1


def test_jsonl_unknown_fields_are_an_error_naming_them():
    rows = read_jsonl('{"ref": "R1", "colour": "red", "size": "L"}\n')
    assert errors(rows) == [(1, "unknown fields: colour, size")]


def test_jsonl_non_utf8_rejects_the_file():
    with pytest.raises(FileRejected, match="not valid UTF-8"):
        read_jsonl('{"ref": "Zoë"}\n'.encode("latin-1"))


@pytest.mark.parametrize("body", ["", "\n\n", "  \r\n"])
def test_jsonl_empty_file_is_rejected(body):
    with pytest.raises(FileRejected, match="empty"):
        read_jsonl(body)


# --- never anything but rows or FileRejected ---------------------------------------


@given(st.binary(max_size=400), st.sampled_from(["csv", "jsonl"]))
def test_arbitrary_bytes_give_rows_or_a_file_rejection_and_nothing_else(data, fmt):
    try:
        rows = list(read_rows(io.BytesIO(b"ref,name\n" + data if fmt == "csv" else data), fmt, COLUMNS))
    except FileRejected:
        return
    for row in rows:
        assert row.number >= 1
        assert row.error or set(row.values) <= set(COLUMNS)
