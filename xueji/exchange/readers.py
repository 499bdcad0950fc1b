"""Streaming readers for import files: xlsx (python-calamine) and csv (UTF-8 or GB18030).

Readers yield ``(row_number, {column_key: value})`` where row_number is the row as the
user sees it in the spreadsheet (the header is row 1). xlsx values keep their cell types
(numbers stay numbers) so that an ID typed as a number can be recognised and refused.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _

from .columns import Column, header_map

csv.field_size_limit(1024 * 1024)


class ImportFileError(Exception):
    """The file as a whole cannot be read: no row is imported."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class OpenedFile:
    total_rows: int
    rows: Iterator[tuple[int, dict]]
    columns_found: list[str]
    encoding: str = ""


def _sniff_format(path: Path, name: str) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    lowered = name.lower()
    if lowered.endswith((".xlsx", ".xlsm")):
        raise ImportFileError("file.corrupt", _("文件不是有效的 xlsx 文件（可能已损坏或被截断）"))
    if lowered.endswith(".xls"):
        raise ImportFileError("file.format", _("不支持旧版 .xls 文件，请另存为 .xlsx 或 .csv"))
    return "csv"


def _map_header(raw_header: list, columns: tuple[Column, ...]) -> list[str | None]:
    mapping = header_map(columns)
    keys: list[str | None] = []
    seen: set[str] = set()
    for cell in raw_header:
        text = (
            str(cell).strip().lstrip("\ufeff").replace("*", "").strip() if cell is not None else ""
        )
        key = mapping.get(text)
        if key in seen:
            raise ImportFileError("file.header_duplicate", _("表头“%s”出现了两次") % text)
        if key:
            seen.add(key)
        keys.append(key)
    missing = [c.header for c in columns if c.header_required and c.key not in seen]
    if missing:
        found = "、".join(str(c).strip() for c in raw_header if str(c).strip()) or _("（空）")
        raise ImportFileError(
            "file.header_missing",
            _("表头缺少必填列：%(missing)s。文件表头为：%(found)s。请使用下载的导入模板。")
            # Short enough that the whole message fits the error report's 255 characters.
            % {
                "missing": "、".join(missing),
                "found": found[:120] + ("…" if len(found) > 120 else ""),
            },
        )
    return keys


def _is_blank(cells) -> bool:
    return not any(c not in (None, "") and str(c).strip() for c in cells)


def _first_nonblank(iterator) -> tuple[int, list | None]:
    """Skip blank lines above the header; returns (1-based row of the header, header)."""
    for index, cells in enumerate(iterator, start=1):
        if not _is_blank(cells):
            return index, list(cells)
    return 0, None


def _rows_from(iterator, keys: list[str | None], first_row: int) -> Iterator[tuple[int, dict]]:
    for offset, cells in enumerate(iterator):
        if _is_blank(cells):
            continue  # blank lines are not rows
        row = {}
        for key, value in zip(keys, cells, strict=False):
            if key is not None:
                row[key] = value
        yield first_row + offset, row


def open_xlsx(path: Path, columns: tuple[Column, ...]) -> OpenedFile:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        iterator = iter(sheet.iter_rows())
        # calamine pads rows from A1, so the position in the iterator is the sheet row.
        header_row, header = _first_nonblank(iterator)
    except (CalamineError, ValueError, OSError, IndexError) as exc:
        raise ImportFileError(
            "file.corrupt", _("无法读取 xlsx 文件（可能已损坏或被截断）：%s") % str(exc)[:120]
        ) from exc
    except Exception as exc:  # calamine raises assorted errors for damaged archives
        raise ImportFileError(
            "file.corrupt", _("无法读取 xlsx 文件（可能已损坏或被截断）")
        ) from exc
    if header is None:
        raise ImportFileError("file.empty", _("文件中没有数据"))
    keys = _map_header(header, columns)

    def guarded() -> Iterator[tuple[int, dict]]:
        try:
            yield from _rows_from(iterator, keys, header_row + 1)
        except Exception as exc:
            raise ImportFileError(
                "file.corrupt", _("读取 xlsx 文件时出错（文件可能已被截断）")
            ) from exc

    total = max(0, (sheet.end[0] + 1 if sheet.end else 0) - header_row)
    return OpenedFile(total_rows=total, rows=guarded(), columns_found=[k for k in keys if k])


def detect_encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head[:1000]:
        raise ImportFileError(
            "file.encoding", _("不支持 UTF-16 编码的 csv，请另存为 UTF-8 或 GB18030（GBK）编码")
        )
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError as exc:
        first_line = head.split(b"\n", 1)[0]
        if not first_line.isascii() and _decodes(first_line, "utf-8"):
            # A UTF-8 header (the Chinese column names) above rows that are not UTF-8:
            # rows pasted in from a GBK export. GB18030 would "decode" it as mojibake.
            raise ImportFileError(
                "file.encoding",
                _(
                    "文件编码不一致：表头是 UTF-8 编码，第 %(row)d 行不是。"
                    "请将整个文件另存为 UTF-8 或 GB18030（GBK）编码"
                )
                % {"row": head[: exc.start].count(b"\n") + 1},
            ) from exc
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        pass
    raise ImportFileError(
        "file.encoding", _("无法识别 csv 文件编码，请另存为 UTF-8 或 GB18030（GBK）编码")
    )


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _first_undecodable_line(path: Path, encoding: str) -> int:
    """The 1-based physical line holding the first byte that does not decode.

    Only called after decoding failed, so the happy path reads through ``TextIOWrapper``
    at full speed. Neither UTF-8 nor GB18030 uses byte 0x0A inside a character, so
    splitting at newlines never cuts one.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not _decodes(raw, encoding):
                return number
    return 0


def open_csv(path: Path, columns: tuple[Column, ...]) -> OpenedFile:
    encoding = detect_encoding(path)
    with path.open("rb") as handle:
        total = max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")))
    text = io.TextIOWrapper(path.open("rb"), encoding=encoding, newline="")
    reader = csv.reader(text)

    def encoding_error() -> ImportFileError:
        codec = "utf-8" if encoding == "utf-8-sig" else encoding
        return ImportFileError(
            "file.encoding",
            _(
                "第 %(row)d 行的字符无法按 %(enc)s 解码：文件编码不一致，"
                "请将整个文件另存为 UTF-8 或 GB18030（GBK）编码"
            )
            % {"row": _first_undecodable_line(path, codec), "enc": codec.upper()},
        )

    try:
        header_row, header = _first_nonblank(reader)
    except UnicodeDecodeError as exc:
        text.close()
        raise encoding_error() from exc
    except csv.Error as exc:
        text.close()
        raise ImportFileError("file.csv", _("表头 csv 格式错误：%s") % exc) from exc
    if header is None:
        text.close()
        raise ImportFileError("file.empty", _("文件中没有数据"))
    try:
        keys = _map_header(header, columns)
    except ImportFileError:
        text.close()
        raise

    def guarded() -> Iterator[tuple[int, dict]]:
        row_number = header_row
        try:
            for cells in reader:
                row_number += 1
                if not any(c.strip() for c in cells):
                    continue
                yield row_number, {k: v for k, v in zip(keys, cells, strict=False) if k is not None}
        except UnicodeDecodeError as exc:
            raise encoding_error() from exc
        except csv.Error as exc:
            raise ImportFileError(
                "file.csv",
                _("第 %(row)d 行 csv 格式错误：%(err)s") % {"row": row_number, "err": exc},
            ) from exc
        finally:
            text.close()

    return OpenedFile(
        total_rows=max(0, total - header_row),
        rows=guarded(),
        columns_found=[k for k in keys if k],
        encoding=encoding,
    )


def open_import_file(path: Path, name: str, columns: tuple[Column, ...]) -> OpenedFile:
    if _sniff_format(path, name) == "xlsx":
        return open_xlsx(path, columns)
    return open_csv(path, columns)
