"""Downloadable files: the import templates and the error reports."""

import csv
import io

import xlsxwriter
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from xueji.divisions.models import CodeItem
from xueji.rule_names import import_rule_name

from .columns import Column
from .models import ImportJob


def build_template(columns: tuple[Column, ...], *, example: dict | None = None) -> bytes:
    """An xlsx template: Chinese headers (required ones marked *), every column formatted as
    text so that ID numbers keep all 18 characters, drop-down lists from the code tables on
    a hidden sheet, and a second sheet explaining each column."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    text = book.add_format({"num_format": "@"})
    head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "num_format": "@"})
    head_required = book.add_format(
        {"bold": True, "bg_color": "#F8CBAD", "border": 1, "num_format": "@"}
    )
    sheet = book.add_worksheet(_("导入数据"))
    codes = book.add_worksheet("codes")
    help_sheet = book.add_worksheet(_("填写说明"))
    tables = {c.code_table for c in columns if c.code_table}
    items: dict[str, list[tuple[str, str]]] = {}
    for item in CodeItem.objects.filter(table__in=tables, active=True).order_by(
        "table", "sort", "code"
    ):
        items.setdefault(item.table, []).append((item.code, item.name))
    ranges: dict[str, str] = {}
    for code_col, (table, entries) in enumerate(sorted(items.items())):
        codes.write(0, code_col, table)
        for row, (code, _name) in enumerate(entries, start=1):
            codes.write_string(row, code_col, code)
        letter = xlsxwriter.utility.xl_col_to_name(code_col)
        ranges[table] = f"=codes!${letter}$2:${letter}${len(entries) + 1}"
    codes.hide()
    for index, column in enumerate(columns):
        label = f"{column.header}*" if column.required else column.header
        sheet.write_string(0, index, label, head_required if column.required else head)
        sheet.set_column(index, index, column.width, text if column.text else None)
        if column.code_table in ranges and len(items.get(column.code_table, [])) < 400:
            sheet.data_validation(
                1,
                index,
                50_000,
                index,
                {
                    "validate": "list",
                    "source": ranges[column.code_table],
                    "error_type": "warning",
                    "error_message": _("请填写代码表中的代码（见“填写说明”）"),
                },
            )
        comment = "；".join(str(text) for text in (column.note, column.required_if) if text)
        if comment:
            sheet.write_comment(0, index, comment)
    if example:
        for index, column in enumerate(columns):
            value = example.get(column.key, "")
            sheet.write_string(1, index, str(value))
    sheet.freeze_panes(1, 0)
    help_sheet.write_row(0, 0, [_("列"), _("必填"), _("说明"), _("代码（代码：名称）")], head)
    help_sheet.set_column(0, 0, 16)
    help_sheet.set_column(2, 2, 40)
    help_sheet.set_column(3, 3, 80)
    for row, column in enumerate(columns, start=1):
        listing = "；".join(f"{c}：{n}" for c, n in items.get(column.code_table, [])[:80])
        help_sheet.write_row(
            row,
            0,
            [column.header, required_text(column), str(column.note), listing],
        )
    book.close()
    return buffer.getvalue()


# Marked for translation here, translated where written (``[_(h) for h in ERROR_HEADERS]``).
ERROR_HEADERS = (
    gettext_noop("行号"),
    gettext_noop("列"),
    gettext_noop("值"),
    gettext_noop("规则"),
    gettext_noop("说明"),
)
# A cell starting with one of these is a formula to Excel (csv injection).
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: str) -> str:
    """The value as typed in the import file, made harmless for a spreadsheet."""
    return "'" + value if value.startswith(_FORMULA_LEADS) else value


def required_text(column: Column) -> str:
    """The template notes' 必填 cell: 是, the condition under which it is required, or ''."""
    if not column.required:
        return ""
    return str(column.required_if) if column.required_if else _("是")


def error_report_csv(job: ImportJob) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_(h) for h in ERROR_HEADERS])
    for e in job.row_errors.order_by("row", "pk").iterator():
        # Masked (ImportRowError.value_masked): the row and column find the cell in the file.
        writer.writerow(
            [e.row or "", e.column, _inert(e.value_masked), import_rule_name(e.code), e.message]
        )
    return out.getvalue().encode("utf-8-sig")


def error_report_xlsx(job: ImportJob) -> bytes:
    buffer = io.BytesIO()
    # Values are echoed from the import file: always text, never formulas or links.
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    sheet = book.add_worksheet(_("错误报告"))
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, [_(h) for h in ERROR_HEADERS], bold)
    sheet.set_column(0, 0, 8)
    sheet.set_column(1, 3, 18)
    sheet.set_column(4, 4, 70)
    for row, e in enumerate(job.row_errors.order_by("row", "pk").iterator(), start=1):
        sheet.write_row(
            row, 0, [e.row or "", e.column, e.value_masked, import_rule_name(e.code), e.message]
        )
    book.close()
    return buffer.getvalue()
