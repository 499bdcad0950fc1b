"""A streaming xlsx reader with limits: memory stays bounded whatever the file holds.

A whole-sheet reader (python-calamine, openpyxl in normal mode) holds every cell at once:
a 10 MB xlsx of two million near-empty rows took 1.2 GB, a 177 KB one holding a single huge
shared string 669 MB. This reader checks the zip's declared sizes before reading anything,
then feeds the parts through expat in 64 KB pieces: a row is handed on as soon as it is
complete, and a cell's text is counted while it arrives, so the row, column and cell-size
limits refuse a file before it can grow in memory.

Values come back as calamine gives them, so the validation downstream sees the same
types: text as ``str``, numbers as ``float``, date-formatted numbers as ``date`` (or
``datetime`` with a time of day), booleans as ``bool``, empty cells as ``""``.
"""

import contextlib
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.parsers import expat

from django.conf import settings
from django.utils.translation import gettext as _

PIECE = 1 << 16
# Parts this small are read whatever their compression ratio (styles compress very well).
RATIO_FLOOR_BYTES = 1 << 20
# Excel's built-in number formats that are dates or times (ECMA-376 18.8.30, plus the
# Chinese locale's 27-36 and 50-58).
_BUILTIN_DATE_FORMATS = frozenset(
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)]
)
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')
_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)
_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


class XlsxRefused(Exception):
    """The file breaks a limit or is not a readable xlsx; ``code`` is the stable rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ReadLimits:
    max_rows: int
    max_columns: int
    max_cell_chars: int
    max_unpacked_bytes: int
    max_ratio: int

    @classmethod
    def from_settings(cls) -> "ReadLimits":
        policy = settings.XUEJI
        return cls(
            max_rows=policy["IMPORT_MAX_ROWS"],
            max_columns=policy["IMPORT_MAX_COLUMNS"],
            max_cell_chars=policy["IMPORT_MAX_CELL_CHARS"],
            max_unpacked_bytes=policy["IMPORT_MAX_XLSX_UNPACKED_BYTES"],
            max_ratio=policy["IMPORT_MAX_XLSX_RATIO"],
        )


def column_letters(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(reference: str) -> int:
    index = 0
    for ch in reference:
        if "A" <= ch <= "Z":
            index = index * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            index = index * 26 + ord(ch) - 96
        else:
            break
    return index


def _row_of(reference: str) -> int:
    digits = reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    return int(digits) if digits.isdigit() else 0


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def cell_too_large(limits: ReadLimits, where: str) -> XlsxRefused:
    return XlsxRefused(
        "file.cell_too_large",
        _(
            "%(where)s的内容超过 %(limit)d 个字符的上限（单元格字符数上限），文件未导入。请检查该单元格。"
        )
        % {"where": where, "limit": limits.max_cell_chars},
    )


def _no_doctype(*_args) -> None:
    # Entity declarations are how an XML "billion laughs" grows; an xlsx never needs them.
    raise XlsxRefused("file.corrupt", _("无法读取 xlsx 文件：内容不合规范（含 DTD 声明）"))


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.buffer_text = False
    return parser


class _Archive:
    """The zip, its parts located through the workbook's relationships, sizes checked."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        self.limits = limits
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise XlsxRefused(
                "file.corrupt", _("无法读取 xlsx 文件：不是有效的 zip 压缩包（可能已损坏或被截断）")
            ) from exc
        self.names = {info.filename.lstrip("/"): info for info in self.zip.infolist()}

    def close(self) -> None:
        self.zip.close()

    def info(self, name: str) -> zipfile.ZipInfo | None:
        return self.names.get(name)

    def check(self, name: str) -> zipfile.ZipInfo:
        """The part's declared sizes within the limits (zipfile never unpacks more than
        the declared size: a part that lies fails its CRC check instead)."""
        info = self.names.get(name)
        if info is None:
            raise XlsxRefused(
                "file.corrupt",
                _("无法读取 xlsx 文件：缺少 %(part)s（可能已损坏或不是 Excel 文件）")
                % {"part": name},
            )
        limits = self.limits
        if info.file_size > limits.max_unpacked_bytes:
            raise XlsxRefused(
                "file.unpacked_too_large",
                _(
                    "xlsx 文件中的 %(part)s 解压后有 %(size)d MB，超过 %(limit)d MB 的上限"
                    "（解压后大小上限），文件未导入。请删除多余的行、列或分批导入。"
                )
                % {
                    "part": name,
                    "size": info.file_size // 1048576,
                    "limit": limits.max_unpacked_bytes // 1048576,
                },
            )
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise XlsxRefused(
                "file.zip_ratio",
                _(
                    "xlsx 文件中的 %(part)s 压缩比异常（%(ratio)d 倍，上限 %(limit)d 倍），"
                    "可能是恶意构造的文件，文件未导入。"
                )
                % {
                    "part": name,
                    "ratio": info.file_size // max(info.compress_size, 1),
                    "limit": limits.max_ratio,
                },
            )
        return info

    def feed(self, name: str, parser: expat.XMLParserType) -> Iterator[None]:
        """Feed the part to ``parser`` piece by piece; yields after each piece."""
        info = self.check(name)
        try:
            with self.zip.open(info) as handle:
                while piece := handle.read(PIECE):
                    parser.Parse(piece, False)
                    yield
                parser.Parse(b"", True)
                yield
        except expat.ExpatError as exc:
            raise XlsxRefused(
                "file.corrupt",
                _("无法读取 xlsx 文件：%(part)s 不是合规的 XML（可能已损坏）：%(error)s")
                % {"part": name, "error": str(exc)[:80]},
            ) from exc
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise XlsxRefused(
                "file.corrupt", _("无法读取 xlsx 文件（可能已损坏或被截断）")
            ) from exc

    def parse_small(self, name: str, start: Callable[[str, dict], None]) -> None:
        parser = _parser()
        parser.StartElementHandler = start
        for _step in self.feed(name, parser):
            pass

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """Id → (type, target path) of a part's relationships."""
        folder, _sep, base = part.rpartition("/")
        rels_name = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        found: dict[str, tuple[str, str]] = {}
        if rels_name not in self.names:
            return found

        def start(name: str, attrs: dict) -> None:
            if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
                target = attrs.get("Target", "")
                path = (
                    target.lstrip("/")
                    if target.startswith("/")
                    else posixpath.normpath(posixpath.join(folder, target))
                )
                found[attrs.get("Id", "")] = (attrs.get("Type", ""), path)

        self.parse_small(rels_name, start)
        return found


@dataclass
class _Workbook:
    sheet: str
    shared_strings: str | None
    styles: str | None
    epoch: datetime


def _locate(archive: _Archive) -> _Workbook:
    workbook = "xl/workbook.xml"
    for _id, (kind, path) in archive.relationships("").items():
        if kind.endswith("/officeDocument"):
            workbook = path
    first_sheet: list[str] = []
    epoch = [_EPOCH_1900]

    def start(name: str, attrs: dict) -> None:
        local = _local(name)
        if local == "sheet" and not first_sheet:
            sheet_id = next((v for k, v in attrs.items() if _local(k) == "id"), "")
            first_sheet.append(sheet_id)
        elif local == "workbookPr" and attrs.get("date1904") in ("1", "true"):
            epoch[0] = _EPOCH_1904

    archive.parse_small(workbook, start)
    relations = archive.relationships(workbook)
    sheet = relations.get(first_sheet[0], ("", ""))[1] if first_sheet else ""
    if not sheet:
        raise XlsxRefused("file.empty", _("xlsx 文件中没有工作表"))
    shared = styles = None
    for kind, path in relations.values():
        if kind.endswith("/sharedStrings"):
            shared = path
        elif kind.endswith("/styles"):
            styles = path
    return _Workbook(sheet, shared, styles, epoch[0])


def _date_styles(archive: _Archive, part: str | None) -> frozenset[int]:
    """Indexes of the cell formats (``s`` of a cell) that show a number as a date."""
    if not part or archive.info(part) is None:
        return frozenset()
    custom: dict[int, str] = {}
    formats: list[int] = []
    depth = {"cellXfs": False}

    def start(name: str, attrs: dict) -> None:
        local = _local(name)
        if local == "numFmt":
            with contextlib.suppress(ValueError):
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
        elif local == "cellXfs":
            depth["cellXfs"] = True
        elif local == "xf" and depth["cellXfs"]:
            try:
                formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                formats.append(0)

    def end(name: str) -> None:
        if _local(name) == "cellXfs":
            depth["cellXfs"] = False

    parser = _parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    for _step in archive.feed(part, parser):
        pass

    def is_date(format_id: int) -> bool:
        if format_id in custom:
            code = _FORMAT_NOISE.sub("", custom[format_id]).lower()
            return any(ch in code for ch in "dmyhs") and "general" not in code
        return format_id in _BUILTIN_DATE_FORMATS

    return frozenset(index for index, format_id in enumerate(formats) if is_date(format_id))


def _shared_strings(archive: _Archive, part: str | None, limits: ReadLimits) -> list[str]:
    if not part or archive.info(part) is None:
        return []
    strings: list[str] = []
    pieces: list[str] = []
    state = {"si": False, "t": False, "phonetic": 0, "length": 0}
    max_strings = limits.max_rows * limits.max_columns

    def start(name: str, _attrs: dict) -> None:
        local = _local(name)
        if local == "si":
            state["si"] = True
            state["length"] = 0
            pieces.clear()
        elif local == "t" and state["si"] and not state["phonetic"]:
            state["t"] = True
        elif local == "rPh":
            state["phonetic"] += 1  # pronunciation guides are not part of the text

    def end(name: str) -> None:
        local = _local(name)
        if local == "t":
            state["t"] = False
        elif local == "rPh":
            state["phonetic"] -= 1
        elif local == "si":
            state["si"] = False
            strings.append("".join(pieces))
            pieces.clear()
            if len(strings) > max_strings:
                raise XlsxRefused(
                    "file.too_many_strings",
                    _("xlsx 文件的共享字符串超过 %(limit)d 个（行数上限 × 列数上限），文件未导入")
                    % {"limit": max_strings},
                )

    def text(data: str) -> None:
        if state["t"]:
            state["length"] += len(data)
            if state["length"] > limits.max_cell_chars:
                raise cell_too_large(
                    limits, _("共享字符串第 %(index)d 项") % {"index": len(strings) + 1}
                )
            pieces.append(data)

    parser = _parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    for _step in archive.feed(part, parser):
        pass
    return strings


class _SheetReader:
    """Expat handlers for one worksheet; complete rows collect in ``ready``."""

    def __init__(self, *, strings, date_styles, epoch, limits: ReadLimits) -> None:
        self.strings = strings
        self.date_styles = date_styles
        self.epoch = epoch
        self.limits = limits
        self.ready: list[tuple[int, list]] = []
        self.dimension_rows = 0
        self.data_rows = 0
        self.row_number = 0
        self.cells: dict[int, object] = {}
        self.column = 0
        self.cell_type = ""
        self.cell_style = -1
        self.collecting = False
        self.in_inline = False
        self.pieces: list[str] = []
        self.length = 0

    def start(self, name: str, attrs: dict) -> None:
        local = _local(name)
        if local == "c":
            reference = attrs.get("r")
            self.column = _column_index(reference) if reference else self.column + 1
            self.cell_type = attrs.get("t", "n")
            try:
                self.cell_style = int(attrs.get("s", "-1"))
            except ValueError:
                self.cell_style = -1
            self.pieces.clear()
            self.length = 0
        elif local == "v":
            self.collecting = True
        elif local == "is":
            self.in_inline = True
        elif local == "t" and self.in_inline:
            self.collecting = True
        elif local == "rPh":
            self.in_inline = False  # phonetic runs of an inline string are not its text
        elif local == "row":
            reference = attrs.get("r")
            self.row_number = (
                int(reference) if reference and reference.isdigit() else (self.row_number + 1)
            )
            self.cells = {}
            self.column = 0
        elif local == "dimension":
            last = attrs.get("ref", "").rpartition(":")[2]
            self.dimension_rows = _row_of(last)

    def text(self, data: str) -> None:
        if self.collecting:
            self.length += len(data)
            if self.length > self.limits.max_cell_chars:
                raise cell_too_large(
                    self.limits,
                    _("第 %(row)d 行 %(column)s 列单元格")
                    % {"row": self.row_number, "column": column_letters(self.column)},
                )
            self.pieces.append(data)

    def end(self, name: str) -> None:
        local = _local(name)
        if local in ("v", "t"):
            self.collecting = False
        elif local == "is":
            self.in_inline = False
        elif local == "c":
            value = self._value("".join(self.pieces))
            if value != "":
                if self.column > self.limits.max_columns:
                    raise XlsxRefused(
                        "file.too_many_columns",
                        _(
                            "第 %(row)d 行 %(column)s 列有内容：超过 %(limit)d 列的上限"
                            "（列数上限），文件未导入。请删除多余的列。"
                        )
                        % {
                            "row": self.row_number,
                            "column": column_letters(self.column),
                            "limit": self.limits.max_columns,
                        },
                    )
                self.cells[self.column] = value
        elif local == "row" and self.cells:
            self.data_rows += 1
            # The header row is one of the rows read, not a data row.
            if self.data_rows > self.limits.max_rows + 1:
                raise too_many_rows(self.limits)
            width = max(self.cells)
            row: list[object] = [""] * width
            for column, value in self.cells.items():
                row[column - 1] = value
            self.ready.append((self.row_number, row))

    def _value(self, raw: str):
        kind = self.cell_type
        if kind == "s":
            try:
                return self.strings[int(raw)]
            except (ValueError, IndexError) as exc:
                raise XlsxRefused(
                    "file.corrupt",
                    _("无法读取 xlsx 文件：第 %(row)d 行引用了不存在的共享字符串（文件可能已损坏）")
                    % {"row": self.row_number},
                ) from exc
        if kind in ("inlineStr", "str", "e"):
            return raw
        if raw == "":
            return ""
        if kind == "b":
            return raw.strip() in ("1", "true")
        if kind == "d":
            try:
                moment = datetime.fromisoformat(raw.strip())
            except ValueError:
                return raw
            return moment.date() if moment.time() == datetime.min.time() else moment
        try:
            number = float(raw)
        except ValueError:
            return raw
        if self.cell_style in self.date_styles and 0 <= number < 2958466:
            moment = self.epoch + timedelta(milliseconds=round(number * 86_400_000))
            if number.is_integer():
                return date(moment.year, moment.month, moment.day)
            return moment
        return number


def too_many_rows(limits: ReadLimits) -> XlsxRefused:
    return XlsxRefused(
        "file.too_many_rows",
        _("文件超过 %(limit)d 行的上限（行数上限），文件未导入。请分批导入。")
        % {"limit": limits.max_rows},
    )


@dataclass
class XlsxSheet:
    """The first worksheet: ``rows`` yields (sheet row number, cells from column A)."""

    dimension_rows: int
    rows: Iterator[tuple[int, list]]


def read_first_sheet(path: Path, limits: ReadLimits) -> XlsxSheet:
    """Open the first worksheet; the parts are checked before any is unpacked."""
    archive = _Archive(path, limits)
    try:
        located = _locate(archive)
        for part in (located.sheet, located.shared_strings, located.styles):
            if part and archive.info(part) is not None:
                archive.check(part)
        date_styles = _date_styles(archive, located.styles)
        strings = _shared_strings(archive, located.shared_strings, limits)
        reader = _SheetReader(
            strings=strings, date_styles=date_styles, epoch=located.epoch, limits=limits
        )
        parser = _parser()
        parser.StartElementHandler = reader.start
        parser.EndElementHandler = reader.end
        parser.CharacterDataHandler = reader.text
        steps = archive.feed(located.sheet, parser)
        # Read up to the first row so the dimension (written before the rows) is known.
        while not reader.ready and next(steps, StopIteration) is not StopIteration:
            pass
    except BaseException:
        archive.close()
        raise

    def rows() -> Iterator[tuple[int, list]]:
        try:
            while True:
                if reader.ready:
                    batch = reader.ready[:]
                    reader.ready.clear()
                    yield from batch
                if next(steps, StopIteration) is StopIteration:
                    break
            yield from reader.ready
        finally:
            archive.close()

    return XlsxSheet(dimension_rows=reader.dimension_rows, rows=rows())
