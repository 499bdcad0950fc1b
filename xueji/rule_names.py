"""Names, in words, of the codes the system keeps for machines: the rule an import row broke,
the kind of an early warning, the outcome of a sign-in attempt.

Codes stay stable for the API, the stored rows and the logs; a page or a downloaded report
shows the name from here instead (Chinese, English in the English locale), never the code.
``tests`` walk the source for every code that can reach such a page and fail on one
without a name here.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# The rules an import row (or the whole file) can break: the "规则" of the import page and
# of the error report.
IMPORT_RULES: dict[str, Promise] = {
    # The file
    "file.corrupt": _("文件损坏"),
    "file.csv": _("csv 格式错误"),
    "file.empty": _("文件无数据"),
    "file.encoding": _("文件编码不支持"),
    "file.format": _("文件格式不支持"),
    "file.header_duplicate": _("表头重复"),
    "file.header_missing": _("表头缺少必填列"),
    "file.too_large": _("文件过大"),
    "file.too_many_rows": _("行数过多"),
    "file.too_many_columns": _("列数过多"),
    "file.too_many_strings": _("文本条目过多"),
    "file.cell_too_large": _("单元格内容过长"),
    "file.unpacked_too_large": _("xlsx 解压后过大"),
    "file.zip_ratio": _("xlsx 压缩比异常"),
    "file.binary": _("不是文本 csv"),
    "file.delimiter": _("分隔符不是逗号"),
    "file.duplicate_code": _("文件内学校标识码重复"),
    "file.duplicate_id": _("文件内证件号重复"),
    "file.duplicate_person": _("文件内疑似同一人"),
    "file.possible_duplicate": _("文件内疑似重复"),
    "import.race": _("导入时数据已变化"),
    "mode.unknown": _("导入模式未知"),
    # Any field
    "required": _("必填项为空"),
    "too_long": _("内容过长"),
    "code_unknown": _("代码不在代码表中"),
    "bool": _("应填“是”或“否”"),
    "phone": _("电话号码格式"),
    "invalid": _("格式不正确"),
    # Dates
    "date.invalid": _("日期格式"),
    "date.future": _("日期晚于今天"),
    "date.too_old": _("日期过早"),
    "date.order": _("日期先后不符"),
    # The student
    "name.invalid": _("姓名不规范"),
    "pinyin.invalid": _("姓名拼音格式"),
    "sex.invalid": _("性别代码"),
    "class.invalid": _("班级名称格式"),
    "grade.unknown": _("年级代码"),
    "grade.not_offered": _("学校不设此年级"),
    "division.unknown": _("行政区划代码无效"),
    "id.empty": _("证件号为空"),
    "id.length": _("证件号位数"),
    "id.format": _("证件号格式"),
    "id.wrong_type": _("证件号与证件类型不符"),
    "id.date_invalid": _("证件号中的出生日期无效"),
    "id.date_future": _("证件号中的出生日期晚于今天"),
    "id.too_old": _("证件号中的出生日期过早"),
    "id.area_unknown": _("证件号中的地区码无效"),
    "id.checksum": _("证件号校验位"),
    "id.numeric_cell": _("证件号被存为数字"),
    "id.birth_mismatch": _("出生日期与证件号不符"),
    "id.sex_mismatch": _("性别与证件号不符"),
    "student.duplicate_id": _("证件号已注册"),
    "student.possible_duplicate": _("疑似已注册"),
    "scope.outside": _("学校不在管理范围内"),
    # The province's non-basic schema
    "schema.key": _("字段标识格式"),
    "schema.key_duplicate": _("字段标识重复"),
    "schema.type": _("字段类型未知"),
    # Schools
    "school.unknown": _("学校不存在"),
    "school.closed": _("学校已撤销"),
    "school.code_format": _("学校标识码格式"),
    "school.type_unknown": _("学校类型代码"),
    "school.operator_unknown": _("办学性质代码"),
    "school.level_unknown": _("学籍主管层级"),
}

# EarlyWarning.kind
WARNING_KINDS: dict[str, Promise] = {
    "change.step_overdue": _("变动环节逾期未办理"),
    "calendar.missing": _("工作日历缺失"),
    "campaign.overdue": _("学籍核准逾期未签报"),
    # security warnings (xueji/audit/watch.py): the titles of xueji.audit.warnings.WarningKind
    "security.bulk_reads": _("单个账号短时间内大量查阅学生信息"),
    "security.exports": _("单个账号大量导出学生信息"),
    "security.off_hours": _("非工作时间查阅或登录"),
    "security.new_network": _("账号从未使用过的网络登录"),
    "security.failed_signins_account": _("同一账号登录连续失败"),
    "security.failed_signins_address": _("同一地址登录连续失败"),
    "security.blocked_account_attempts": _("尝试登录封存、停用或锁定的账号"),
    "security.scope_probing": _("试探辖区外学生信息"),
    "security.mass_changes": _("同一学校大量学籍变动"),
    "security.duplicate_search": _("以查重代替查询"),
    "security.token_refusals": _("API 令牌多次被拒绝"),
    "security.audit_verify_failed": _("审计链校验失败"),
    "security.read_limit": _("超过每日查阅或导出上限"),
}

# LoginAttempt.reason (xueji.accounts.authentication.Reason and the second factor's)
SIGN_IN_OUTCOMES: dict[str, Promise] = {
    "ok": _("成功"),
    "bad_password": _("密码错误"),
    "unknown_user": _("用户名不存在"),
    "locked": _("账号已锁定"),
    "sealed": _("账号已封存"),
    "disabled": _("账号已停用"),
    "untrained": _("未完成培训"),
    "inactive": _("账号未启用"),
    "token_unknown": _("接口令牌无效"),
    "token_expired": _("接口令牌已过期"),
    "token_revoked": _("接口令牌已吊销"),
    "rate_limited": _("请求过于频繁"),
    "bad_second_factor": _("动态验证码错误"),
}


def _name(catalogue: dict[str, Promise], code: str, fallback: Promise) -> str:
    name = catalogue.get(code)
    return str(name if name is not None else fallback)


def import_rule_name(code: str) -> str:
    """The broken rule, in words (a code not listed reads as "数据校验")."""
    return _name(IMPORT_RULES, code, _("数据校验"))


def warning_kind_name(kind: str) -> str:
    return _name(WARNING_KINDS, kind, _("预警"))


def sign_in_outcome_name(reason: str) -> str:
    return _name(SIGN_IN_OUTCOMES, reason, _("登录失败"))
