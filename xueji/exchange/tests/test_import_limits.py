"""Import files that are too big, hostile or mislabelled: refused early, with bounded
memory and a message that says what to do (issue 11, items 14 and 16)."""

import io
import json
import tracemalloc
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory, override_settings
from django.urls import reverse
from python_calamine import CalamineWorkbook

from tests.factories import registration
from xueji.errors import ValidationFailed
from xueji.exchange.models import ImportStatus
from xueji.exchange.services import import_job_create
from xueji.exchange.uploads import ImportUploadLimitMiddleware
from xueji.exchange.xlsx import ReadLimits, XlsxRefused, read_first_sheet
from xueji.students.models import Student

from .test_import import (
    assert_file_rejected,
    registry_counts,
    run_file,
    table,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db

LIMITS = ReadLimits(
    max_rows=50,
    max_columns=40,
    max_cell_chars=300,
    max_unpacked_bytes=8 * 1024 * 1024,
    max_ratio=100,
)
SMALL = {
    "IMPORT_MAX_ROWS": 50,
    "IMPORT_MAX_COLUMNS": 40,
    "IMPORT_MAX_CELL_CHARS": 300,
}


def raw_xlsx(path: Path, sheet_rows, *, shared: list[str] | None = None, level: int = 6) -> Path:
    """A minimal workbook written part by part (rows as XML strings), the way a hostile or
    unusual generator writes one; the sheet XML is streamed, never held whole."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        with archive.open("xl/sharedStrings.xml", "w") as part:
            part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            for text in shared or []:
                part.write(f"<si><t>{text}</t></si>".encode())
            part.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b"<sheetData>"
            )
            for row in sheet_rows:
                part.write(row.encode())
            part.write(b"</sheetData></worksheet>")
    return path


def near_empty_rows(count: int):
    for number in range(1, count + 1):
        yield f'<row r="{number}"><c r="A{number}" t="s"><v>0</v></c></row>'


# -- the streaming reader ---------------------------------------------------------------


def test_streaming_reader_gives_the_values_calamine_gives(tmp_path):
    """Same types as the reader it replaces: floats, dates, datetimes, bools, text, blanks."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["学校标识码", "姓名", "出生日期", "时间", "布尔", "全角", "空"])
    sheet.append([1, 1.5, date(2017, 12, 31), datetime(2017, 1, 2, 3, 4), True, "１１４４", None])
    sheet.append(["x", 12345678901234567, "", "y", 0, -2.0])
    sheet["D2"].number_format = "yyyy-mm-dd hh:mm"
    sheet.cell(row=6, column=9, value="远处")
    path = tmp_path / "types.xlsx"
    book.save(path)

    ours = {number: cells for number, cells in read_first_sheet(path, LIMITS).rows}

    theirs = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    for number, cells in ours.items():
        expected = theirs[number - 1]
        assert cells == expected[: len(cells)], number
        assert all(value == "" for value in expected[len(cells) :])
        assert [type(v) for v in cells] == [type(v) for v in expected[: len(cells)]]
    assert set(ours) == {1, 2, 3, 6}  # blank rows are not handed on


def test_rows_over_the_limit_are_refused_while_reading(tmp_path):
    path = raw_xlsx(tmp_path / "rows.xlsx", near_empty_rows(10_000), shared=["x"])
    read = 0
    with pytest.raises(XlsxRefused) as refused:
        for _row in read_first_sheet(path, LIMITS).rows:
            read += 1
    assert refused.value.code == "file.too_many_rows"
    assert "50 行" in refused.value.message
    assert read <= LIMITS.max_rows + 1  # the header and the rows allowed, no more


def test_a_huge_shared_string_is_refused_before_it_is_unpacked(tmp_path):
    """The 177 KB file that took 669 MB: its sharedStrings part declares a size and a
    compression ratio far over the limits, so nothing of it is parsed."""
    path = raw_xlsx(tmp_path / "bomb.xlsx", near_empty_rows(2), shared=["A" * 20_000_000])
    assert path.stat().st_size < 200_000

    tracemalloc.start()
    with pytest.raises(XlsxRefused) as refused:
        list(read_first_sheet(path, LIMITS).rows)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert refused.value.code in ("file.unpacked_too_large", "file.zip_ratio")
    assert "sharedStrings.xml" in refused.value.message
    assert peak < 2_000_000


def test_a_long_shared_string_within_the_zip_limits_stops_at_the_cell_limit(tmp_path):
    """Compressed normally (ratio under the limit), the string is read piece by piece and
    refused at the cell-size limit: memory stays far below the string's size."""
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1_500_000))  # ~4.5 MB
    path = raw_xlsx(tmp_path / "long.xlsx", near_empty_rows(2), shared=[text], level=1)

    tracemalloc.start()
    with pytest.raises(XlsxRefused) as refused:
        list(read_first_sheet(path, LIMITS).rows)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert refused.value.code == "file.cell_too_large"
    assert "300 个字符" in refused.value.message
    assert peak < 1_500_000


def test_a_value_beyond_the_column_limit_is_refused(tmp_path):
    rows = ['<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>']
    rows.append('<row r="2"><c r="AZ2" t="inlineStr"><is><t>b</t></is></c></row>')
    path = raw_xlsx(tmp_path / "wide.xlsx", rows)
    with pytest.raises(XlsxRefused) as refused:
        list(read_first_sheet(path, LIMITS).rows)
    assert refused.value.code == "file.too_many_columns"
    assert "AZ" in refused.value.message
    assert "40 列" in refused.value.message


def test_an_xml_entity_declaration_is_refused(tmp_path):
    path = tmp_path / "laughs.xlsx"
    raw_xlsx(path, [])
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(
            "xl/worksheets/sheet2.xml", '<!DOCTYPE x [<!ENTITY a "aaaa">]><worksheet/>'
        )
    data = path.read_bytes()  # the sheet the workbook names now comes second in the zip
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><worksheet><sheetData/></worksheet>'
            if info.filename != "xl/worksheets/sheet2.xml":
                target.writestr(info.filename, content)
    with pytest.raises(XlsxRefused) as refused:
        list(read_first_sheet(path, LIMITS).rows)
    assert refused.value.code == "file.corrupt"


# -- through the import ---------------------------------------------------------------------


@override_settings(XUEJI={**settings.XUEJI, **SMALL})
def test_import_of_too_many_xlsx_rows_is_refused_whole(tmp_path, school, school_user):
    rows = [registration(school) for _ in range(3)]
    path = write_xlsx(tmp_path / "few.xlsx", rows)
    assert run_file(school_user, path).status == ImportStatus.SUCCEEDED

    path = raw_xlsx(tmp_path / "students.xlsx", near_empty_rows(5_000), shared=["x"])
    before = registry_counts()
    job = run_file(school_user, path)
    assert_file_rejected(job, "file.too_many_rows", "50 行", "分批导入")
    assert registry_counts() == before


@override_settings(XUEJI={**settings.XUEJI, **SMALL})
def test_csv_limits_name_the_row_and_the_limit(tmp_path, school, school_user):
    long_address = write_csv(
        tmp_path / "long.csv", [registration(school), registration(school, address="路" * 301)]
    )
    assert_file_rejected(run_file(school_user, long_address), "file.cell_too_large", "300 个字符")

    many = write_csv(tmp_path / "many.csv", [registration(school) for _ in range(51)])
    assert_file_rejected(run_file(school_user, many), "file.too_many_rows", "50 行")

    wide = tmp_path / "wide.csv"
    cells = table([registration(school)])
    wide.write_text(
        "\n".join(",".join([*row, *[""] * 10, "多余"]) for row in cells), encoding="utf-8"
    )
    assert_file_rejected(run_file(school_user, wide), "file.too_many_columns", "40 列")
    assert not Student.objects.exists()


# -- messages (item 16) --------------------------------------------------------------------


def test_a_binary_file_is_not_called_utf16(tmp_path, school_user):
    path = tmp_path / "students.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20)
    job = run_file(school_user, path)
    message = assert_file_rejected(job, "file.binary", "不是文本格式的 csv")
    assert "UTF-16" not in message

    path.write_bytes("学校标识码,姓名\n".encode() + b"\x00" * 40)
    assert_file_rejected(run_file(school_user, path), "file.binary", "二进制")


def test_an_old_xls_is_told_to_save_as_xlsx(tmp_path, school_user):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    renamed = tmp_path / "students.xlsx"
    renamed.write_bytes(ole)
    message = assert_file_rejected(run_file(school_user, renamed), "file.format", "另存为")
    assert ".xlsx" in message
    assert "损坏" not in message

    named = tmp_path / "students.xls"
    named.write_bytes(ole)
    with pytest.raises(ValidationFailed) as refused, named.open("rb") as handle:
        from django.core.files.base import File

        import_job_create(
            actor=school_user,
            upload=File(handle, name=named.name),
            file_name=named.name,
            mode="all_or_nothing",
        )
    assert refused.value.errors[0].code == "file.format"
    assert "另存为" in str(refused.value.errors[0].message)
    assert ".xlsx" in str(refused.value.errors[0].message)


def test_a_semicolon_separated_csv_gets_a_hint(tmp_path, school, school_user):
    path = tmp_path / "students.csv"
    rows = table([registration(school)])
    path.write_text("\n".join(";".join(map(str, row)) for row in rows), encoding="utf-8")
    assert_file_rejected(run_file(school_user, path), "file.delimiter", "分号（;）", "逗号分隔")


def test_an_unknown_column_is_warned_about(tmp_path, school, school_user):
    path = write_csv(
        tmp_path / "students.csv", [registration(school)], extra={"remark": "备注说明"}
    )
    job = run_file(school_user, path)
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.created_count == 1
    assert "“备注说明”不是导入模板中的列" in job.message


def test_a_full_width_school_code_is_normalised(tmp_path, school, school_user):
    row = registration(school)
    row["school_code"] = "".join(chr(ord(ch) + 0xFEE0) for ch in school.code)  # １１４４…
    row["sex"] = chr(ord(row["sex"]) + 0xFEE0)
    path = write_csv(tmp_path / "students.csv", [row])
    job = run_file(school_user, path)
    assert job.status == ImportStatus.SUCCEEDED, list(job.row_errors.values_list("message"))
    assert Student.objects.get().record.school_id == school.pk


class CountingStream:
    """A request body that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.data.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        chunk = self.data.readline(size)
        self.read_bytes += len(chunk)
        return chunk


def multipart(size: int, *, name: str = "students.csv") -> tuple[bytes, str]:
    boundary = "BoUnDaRy"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="mode"\r\n\r\nall_or_nothing\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + b"x" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@override_settings(XUEJI={**settings.XUEJI, "IMPORT_MAX_BYTES": 100_000})
def test_upload_over_the_limit_is_refused_while_it_streams():
    body, content_type = multipart(3_000_000)
    stream = CountingStream(body)
    # A client that sends no length (or a wrong one) is stopped by the handler.
    request = RequestFactory().generic(
        "POST",
        "/api/imports",
        **{"wsgi.input": stream, "CONTENT_LENGTH": str(90_000), "CONTENT_TYPE": content_type},
    )
    assert isinstance(request, WSGIRequest)
    request._stream = stream  # type: ignore[assignment]  # read the raw stream, as a server with chunked input does
    response = ImportUploadLimitMiddleware(lambda r: pytest.fail("view reached"))(request)

    assert response.status_code == 413
    assert "0.1 MB" in json.loads(response.content)["message"]
    assert stream.read_bytes < 500_000  # stopped near the limit, not after 3 MB


@override_settings(XUEJI={**settings.XUEJI, "IMPORT_MAX_BYTES": 100_000})
def test_declared_length_over_the_limit_is_refused_before_reading(client, school_user):
    client.force_login(school_user)
    body, content_type = multipart(1_000_000)
    stream = CountingStream(body)
    request = RequestFactory().generic(
        "POST",
        "/api/imports",
        **{"wsgi.input": stream, "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": content_type},
    )
    response = ImportUploadLimitMiddleware(lambda r: pytest.fail("view reached"))(request)
    assert response.status_code == 413
    assert stream.read_bytes == 0

    # The page: back to the form with the message, nothing stored.
    response = client.post(
        reverse("imports:new"), data=body, content_type=content_type, follow=True
    )
    assert "超过 0.1 MB 的上限" in response.content.decode()
    assert response.redirect_chain and response.redirect_chain[0][1] == 302
