"""Streaming readers for import files: xlsx (python-calamine) and csv (UTF-8 or GB18030).

Readers yield ``(row_number, {column_key: value})`` where row_number is the row as the
user sees it in the spreadsheet (the header is row 1). xlsx values keep their cell types
(numbers stay numbers) so that an ID typed as a number can be recognised and refused.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .columns import Column, header_map
from .xlsx import ReadLimits, XlsxRefused, cell_too_large, read_first_sheet, too_many_rows


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
    warnings: list[str] = field(default_factory=list)


# Magic numbers of files that are not csv text, and what to tell the clerk about each.
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc, and password-protected .xlsx


def _sniff_format(path: Path, name: str) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    lowered = name.lower()
    if head.startswith(_OLE):
        raise ImportFileError(
            "file.format",
            _(
                "这是旧版 Excel（.xls）文件或加密的工作簿，无法读取。"
                "请在 Excel 中用“另存为”保存为 .xlsx（Excel 工作簿）格式，且不设打开密码，再导入。"
            ),
        )
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
        _refuse_other_delimiter(raw_header)
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


_DELIMITERS = (
    (";", gettext_lazy("分号（;）")),
    ("\t", gettext_lazy("制表符（Tab）")),
    ("|", gettext_lazy("竖线（|）")),
)


def _refuse_other_delimiter(raw_header: list) -> None:
    """A header read as one column that holds ';', tab or '|': the file is not comma-separated."""
    cells = [str(c).strip() for c in raw_header if c is not None and str(c).strip()]
    if len(cells) != 1:
        return
    for delimiter, label in _DELIMITERS:
        if delimiter in cells[0]:
            raise ImportFileError(
                "file.delimiter",
                _(
                    "文件的各列似乎用%(delimiter)s分隔，而导入只接受逗号分隔的 csv。"
                    "请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后再导入。"
                )
                % {"delimiter": label},
            )


def unknown_columns_warning(raw_header: list, keys: list[str | None]) -> str:
    """A warning naming the header cells that are not import columns (their values are
    not imported); empty when every non-empty header cell was recognised."""
    unknown = [
        str(cell).strip()
        for cell, key in zip(raw_header, keys, strict=False)
        if key is None and cell is not None and str(cell).strip()
    ]
    if not unknown:
        return ""
    shown = "、".join(f"“{name[:30]}”" for name in unknown[:10])
    if len(unknown) > 10:
        shown += _("等 %d 列") % len(unknown)
    return _(
        "注意：%(columns)s不是导入模板中的列，这些列的内容未被导入。"
        "如是列名写错，请改正后重新导入。"
    ) % {"columns": shown}


def _is_blank(cells) -> bool:
    return not any(c not in (None, "") and str(c).strip() for c in cells)


def _first_nonblank(iterator) -> tuple[int, list | None]:
    """Skip blank lines above the header; returns (1-based row of the header, header)."""
    for index, cells in enumerate(iterator, start=1):
        if not _is_blank(cells):
            return index, list(cells)
    return 0, None


def open_xlsx(path: Path, columns: tuple[Column, ...]) -> OpenedFile:
    """The first worksheet, streamed (``xlsx.read_first_sheet``) within the read limits."""
    limits = ReadLimits.from_settings()
    try:
        sheet = read_first_sheet(path, limits)
        rows = (item for item in sheet.rows if not _is_blank(item[1]))
        first = next(rows, None)
    except XlsxRefused as exc:
        raise ImportFileError(exc.code, exc.message) from exc
    if first is None:
        raise ImportFileError("file.empty", _("文件中没有数据"))
    header_row, header = first
    keys = _map_header(header, columns)

    def guarded() -> Iterator[tuple[int, dict]]:
        try:
            for row_number, cells in rows:
                yield (
                    row_number,
                    {
                        key: value
                        for key, value in zip(keys, cells, strict=False)
                        if key is not None
                    },
                )
        except XlsxRefused as exc:
            raise ImportFileError(exc.code, exc.message) from exc

    warning = unknown_columns_warning(header, keys)
    return OpenedFile(
        total_rows=max(0, sheet.dimension_rows - header_row),
        rows=guarded(),
        columns_found=[k for k in keys if k],
        warnings=[warning] if warning else [],
    )


def detect_encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(head[:1000]):
        raise ImportFileError(
            "file.encoding", _("不支持 UTF-16 编码的 csv，请另存为 UTF-8 或 GB18030（GBK）编码")
        )
    if b"\x00" in head:
        # NUL never occurs in UTF-8 or GB18030 text: this is a binary file (a picture, a
        # PDF, a Word document, a database) renamed or saved under a wrong name.
        raise ImportFileError(
            "file.binary",
            _(
                "文件不是文本格式的 csv 文件（含有二进制内容），无法导入。"
                "请上传导入模板格式的 .xlsx 文件，或在 Excel 中另存为“CSV UTF-8（逗号分隔）”。"
            ),
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


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 text without a byte-order mark: decodes as UTF-16 into printable text with
    commas or line breaks in it (binary data decodes into NULs, controls and rare code points).
    """
    if b"\x00" not in head:
        return False
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = codecs.getincrementaldecoder(codec)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or not any(ch in text for ch in ",\n"):
            continue
        if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
            return True
    return False


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
    limits = ReadLimits.from_settings()
    # The csv module refuses a longer field itself, before it is held in memory whole.
    csv.field_size_limit(limits.max_cell_chars)
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
        if "field larger than field limit" in str(exc):
            raise _cell_too_large(limits, 1) from exc
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
        data_rows = 0
        try:
            for cells in reader:
                row_number += 1
                if not any(c.strip() for c in cells):
                    continue
                data_rows += 1
                if data_rows > limits.max_rows:
                    refused = too_many_rows(limits)
                    raise ImportFileError(refused.code, refused.message)
                if len(cells) > limits.max_columns and any(
                    c.strip() for c in cells[limits.max_columns :]
                ):
                    raise _too_many_columns(limits, row_number)
                yield row_number, {k: v for k, v in zip(keys, cells, strict=False) if k is not None}
        except UnicodeDecodeError as exc:
            raise encoding_error() from exc
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _cell_too_large(limits, row_number + 1) from exc
            raise ImportFileError(
                "file.csv",
                _("第 %(row)d 行 csv 格式错误：%(err)s") % {"row": row_number, "err": exc},
            ) from exc
        finally:
            text.close()

    if len(header) > limits.max_columns and any(
        str(c).strip() for c in header[limits.max_columns :]
    ):
        text.close()
        raise _too_many_columns(limits, header_row)
    warning = unknown_columns_warning(header, keys)
    return OpenedFile(
        total_rows=max(0, total - header_row),
        rows=guarded(),
        columns_found=[k for k in keys if k],
        encoding=encoding,
        warnings=[warning] if warning else [],
    )


def _cell_too_large(limits: ReadLimits, row: int) -> ImportFileError:
    refused = cell_too_large(limits, _("第 %(row)d 行的一个单元格") % {"row": row})
    return ImportFileError(refused.code, refused.message)


def _too_many_columns(limits: ReadLimits, row: int) -> ImportFileError:
    return ImportFileError(
        "file.too_many_columns",
        _("第 %(row)d 行超过 %(limit)d 列的上限（列数上限），文件未导入。请删除多余的列。")
        % {"row": row, "limit": limits.max_columns},
    )


def open_import_file(path: Path, name: str, columns: tuple[Column, ...]) -> OpenedFile:
    if _sniff_format(path, name) == "xlsx":
        return open_xlsx(path, columns)
    return open_csv(path, columns)
