"""The audit vocabulary: every action and every kind of object the trail can name.

``audit_record`` accepts only these members, so a new audited action is a new member here
(with its Chinese label) and the audit admin's search can offer every action by name. The
values are stored; never change a published value (add a member and map old rows in a
migration instead). Labels are what the audit pages show, in the reader's language.
"""

from enum import StrEnum

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Stored summaries are Chinese whatever the language of the session that wrote them.
STORED_LANGUAGE = "zh-hans"


class AuditAction(StrEnum):
    """What happened. The value is ``<area>.<verb>``; ``label`` is the Chinese name."""

    label: Promise

    def __new__(cls, value: str, label: Promise) -> "AuditAction":
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    # accounts: sign-in and the account's own security
    ACCOUNT_SIGN_IN = "account.sign_in", _("登录")
    ACCOUNT_SIGN_OUT = "account.sign_out", _("退出登录")
    ACCOUNT_LOCK = "account.lock", _("账号锁定")
    ACCOUNT_PASSWORD_SET = "account.password_set", _("修改密码")
    ACCOUNT_PASSWORD_CHANGE_REFUSED = "account.password_change_refused", _("修改密码被拒绝")
    ACCOUNT_TOTP_ENROL = "account.totp_enrol", _("绑定验证器")
    ACCOUNT_TOTP_INSTALL = "account.totp_install", _("预置演示验证器")
    ACCOUNT_RECOVERY_CODE_USE = "account.recovery_code_use", _("使用恢复码")
    ACCOUNT_RECOVERY_CODES_REGENERATE = "account.recovery_codes_regenerate", _("重新生成恢复码")
    # accounts: the system and security admins' work
    ACCOUNT_CREATE = "account.create", _("创建账号")
    ACCOUNT_ROLES = "account.roles", _("修改账号角色")
    ACCOUNT_DISABLE = "account.disable", _("停用账号")
    ACCOUNT_ENABLE = "account.enable", _("启用账号")
    ACCOUNT_SEAL = "account.seal", _("封存账号")
    ACCOUNT_UNSEAL = "account.unseal", _("解封账号")
    ACCOUNT_UNLOCK = "account.unlock", _("解除锁定")
    ACCOUNT_PASSWORD_RESET = "account.password_reset", _("重置密码")
    ACCOUNT_TOTP_RESET = "account.totp_reset", _("重置双因素认证")
    ACCOUNT_TOTP_RESET_REFUSED = "account.totp_reset_refused", _("重置双因素认证被拒绝")
    ACCOUNT_REFUSED = "account.refused", _("账号管理操作被拒绝")
    ACCOUNT_DEMO_SETUP = "account.demo_setup", _("准备演示账号")
    TRAINING_RECORD = "training.record", _("登记培训")
    API_TOKEN_ISSUE = "api_token.issue", _("签发 API 令牌")
    API_TOKEN_REVOKE = "api_token.revoke", _("吊销 API 令牌")
    FIELD_KEYS_ROTATE = "field_keys.rotate", _("轮换字段密钥")
    FIELD_KEYS_REINDEX = "field_keys.reindex", _("重建盲索引")
    # students
    STUDENT_REGISTER = "student.register", _("注册学生")
    STUDENT_IMPORT = "student.import", _("批量导入注册学生")
    STUDENT_GENERATE = "student.generate", _("生成演示学生")
    STUDENT_REACTIVATE = "student.reactivate", _("恢复学籍")
    STUDENT_NUMBER_UPGRADE = "student.number_upgrade", _("学籍号升级")
    STUDENT_CORRECT = "student.correct", _("更正基础信息")
    STUDENT_REVEAL = "student.reveal", _("显示完整信息")
    STUDENT_REVEAL_REFUSED = "student.reveal_refused", _("显示完整信息被拒绝")
    # reads of personal data (xueji/audit/reads.py): one event per student shown
    STUDENT_READ = "student.read", _("查阅学生信息")
    STUDENT_EXPORT = "student.export", _("导出学生信息")
    # A duplicate check (registration, correction) that met records outside the asker's
    # scope: answered minimally (xueji.students.disclosure), recorded with the ids.
    STUDENT_DUPLICATE_OUTSIDE = "student.duplicate_outside", _("查重涉及辖区外学籍")
    # A student id asked for that is missing or outside the asker's scope (both answer "not
    # found"): many of them are probing (xueji/audit/watch.py).
    STUDENT_NOT_FOUND = "student.not_found", _("查阅的学生不存在或不在辖区内")
    NONBASIC_SCHEMA_FILE = "nonbasic_schema.file", _("备案非基础信息方案")
    # schools
    SCHOOL_CREATE = "school.create", _("新建学校")
    SCHOOL_UPDATE = "school.update", _("修改学校")
    SCHOOL_CLOSE = "school.close", _("撤销或合并学校")
    # bulk import
    IMPORT_SUBMIT = "import.submit", _("提交导入")
    IMPORT_STUDENTS = "import.students", _("完成学生导入")
    IMPORT_SCHOOLS = "import.schools", _("完成学校导入")
    IMPORT_PURGE = "import.purge", _("清除过期导入任务")
    # promotion and graduation batches
    BATCH_PLAN = "batch.plan", _("批量处理试运行")
    BATCH_PROMOTE = "batch.promote", _("批量升级")
    BATCH_GRADUATE = "batch.graduate", _("批量毕业")
    BATCH_FAILED = "batch.failed", _("批量处理中断")
    # status changes and their rules
    CHANGE_FILE = "change.file", _("申请学籍变动")
    # A transfer filed for a student outside the filer's scope that could not be opened:
    # the filer learns nothing beyond "not possible now" (xueji.students.disclosure).
    CHANGE_FILE_REFUSED_OUTSIDE = "change.file_refused_outside", _("辖区外学生转入未受理")
    CHANGE_STEP_APPROVE = "change.step_approve", _("核办同意")
    CHANGE_STEP_REFUSE = "change.step_refuse", _("核办不同意")
    CHANGE_STEP_DEADLINE = "change.step_deadline", _("补算办理期限")
    CHANGE_COMPLETE = "change.complete", _("学籍变动办结")
    CHANGE_WITHDRAW = "change.withdraw", _("撤回学籍变动")
    CHANGE_MATERIAL_ADD = "change.material_add", _("补充变动材料")
    CHANGE_MATERIAL_DOWNLOAD = "change.material_download", _("下载变动材料")
    RULESET_PUBLISH = "ruleset.publish", _("发布变动规则")
    CALENDAR_YEAR_LOAD = "calendar.year_load", _("载入工作日历")
    CALENDAR_YEAR_REPLACE = "calendar.year_replace", _("替换工作日历")
    # the dropout-control ledger
    DROPOUT_CASE_OPEN = "dropout.case_open", _("控辍保学立案")
    DROPOUT_CASE_CLOSE = "dropout.case_close", _("控辍保学销号")
    DROPOUT_FOLLOW_UP = "dropout.follow_up", _("控辍保学跟进")
    # archives
    ARCHIVE_ADD = "archive.add", _("添加档案材料")
    ARCHIVE_FILE_MATERIALS = "archive.file_materials", _("变动材料归档")
    ARCHIVE_TRANSFER = "archive.transfer", _("档案随转学移交")
    ARCHIVE_TO_AUTHORITY = "archive.to_authority", _("档案交主管部门")
    ARCHIVE_RETURN = "archive.return", _("档案交回学校")
    ARCHIVE_PAPER_REGISTER = "archive.paper_register", _("登记纸质档案")
    ARCHIVE_DOWNLOAD = "archive.download", _("下载档案材料")
    ARCHIVE_BACKUP_DOWNLOAD = "archive.backup_download", _("下载档案备份材料")
    # data releases (xueji/releases, Art. 24)
    RELEASE_REQUEST = "release.request", _("申请数据发布")
    RELEASE_REVIEW = "release.review", _("审核数据发布")
    RELEASE_APPROVE = "release.approve", _("批准数据发布")
    RELEASE_REJECT = "release.reject", _("不予通过数据发布")
    RELEASE_GENERATE = "release.generate", _("生成数据发布文件")
    RELEASE_GENERATE_FAILED = "release.generate_failed", _("数据发布文件生成失败")
    RELEASE_DOWNLOAD = "release.download", _("下载数据发布文件")
    RELEASE_DOWNLOAD_REFUSED = "release.download_refused", _("下载数据发布文件被拒绝")
    RELEASE_BASIS_DOWNLOAD = "release.basis_download", _("查看数据发布批准文件")
    # semester confirmation
    CAMPAIGN_OPEN = "campaign.open", _("发起学籍核准")
    CAMPAIGN_CLOSE = "campaign.close", _("结束学籍核准")
    CAMPAIGN_ROLL_OPEN = "campaign.roll_open", _("打开核准名册")
    CAMPAIGN_ROLL_SYNC = "campaign.roll_sync", _("同步核准名册")
    CAMPAIGN_MARK = "campaign.mark", _("核准标记")
    CAMPAIGN_MARK_ALL_PRESENT = "campaign.mark_all_present", _("全部标为在校")
    CAMPAIGN_SIGN_OFF = "campaign.sign_off", _("核准签字确认")
    # anomalies
    ANOMALY_DETECT = "anomaly.detect", _("检测学籍异常")
    ANOMALY_DISMISS = "anomaly.dismiss", _("排除学籍异常")
    ANOMALY_DIFFERENT_PEOPLE = "anomaly.different_people", _("确认非同一人")
    ANOMALY_MERGE = "anomaly.merge", _("合并重复学籍")
    ANOMALY_MERGE_UNDO = "anomaly.merge_undo", _("撤销学籍合并")
    ANOMALY_SIGHTINGS_IMPORT = "anomaly.sightings_import", _("导入在校名单")
    # early warnings
    WARNING_RAISE = "warning.raise", _("发出预警")
    WARNING_RESOLVE = "warning.resolve", _("解除预警")
    WARNING_EVALUATE = "warning.evaluate", _("评估安全预警规则")
    WARNING_RULESET_PUBLISH = "warning.ruleset_publish", _("发布安全预警规则")
    # the guardian portal
    PORTAL_CODE_SEND = "portal.code_send", _("发送家长登录验证码")
    PORTAL_CODE_LIMITED = "portal.code_limited", _("验证码发送已达上限")
    PORTAL_SIGNIN = "portal.signin", _("家长登录")
    PORTAL_SIGNIN_REFUSED = "portal.signin_refused", _("家长登录被拒绝")
    PORTAL_SIGNOUT = "portal.signout", _("家长退出")
    PORTAL_SESSION_IDLE = "portal.session_idle", _("家长会话超时退出")
    # the trusted digital identity (xueji/credentials, Art. 24)
    CREDENTIAL_ISSUE = "credential.issue", _("签发学生身份凭证")
    CREDENTIAL_REVOKE = "credential.revoke", _("吊销学生身份凭证")
    CREDENTIAL_SUSPEND = "credential.suspend", _("暂停学生身份凭证")
    CREDENTIAL_REINSTATE = "credential.reinstate", _("恢复学生身份凭证")
    CREDENTIAL_REVOKE_BATCH = "credential.revoke_batch", _("批量吊销学生身份凭证")
    CREDENTIAL_PRESENT = "credential.present", _("出示学生身份凭证")
    CREDENTIAL_VERIFY = "credential.verify", _("依赖方核验学生身份凭证")
    CREDENTIAL_VERIFY_REFUSED = "credential.verify_refused", _("依赖方核验被拒绝")
    RELYING_PARTY_REGISTER = "relying_party.register", _("登记依赖方")
    # the audit trail itself (the audit admin's work, retention, integrity)
    AUDIT_SEARCH = "audit.search", _("查询审计日志")
    AUDIT_EXPORT = "audit.export", _("导出审计日志")
    AUDIT_PURGE = "audit.purge", _("清理过期审计日志")
    AUDIT_CHECKPOINT = "audit.checkpoint", _("审计链签名检查点")
    AUDIT_VERIFY_FAILED = "audit.verify_failed", _("审计链校验失败")
    # rows written before the vocabulary existed whose action it does not know (the old
    # value is kept in ``detail["legacy_action"]``)
    LEGACY = "legacy", _("旧版记录")


class ObjectType(StrEnum):
    """What an event is about: ``<app>.<model>`` (the same names as warning subjects)."""

    label: Promise

    def __new__(cls, value: str, label: Promise) -> "ObjectType":
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    USER = "accounts.user", _("账号")
    API_TOKEN = "accounts.api_token", _("API 令牌")
    FIELD_KEYS = "fieldcrypto.keys", _("字段密钥")
    STUDENT = "students.student", _("学生")
    GUARDIAN = "students.guardian", _("监护人")
    NONBASIC_SCHEMA = "students.nonbasic_schema", _("非基础信息方案")
    SCHOOL = "schools.school", _("学校")
    STATUS_RECORD = "enrolment.record", _("学籍")
    BATCH_RUN = "enrolment.batch_run", _("批量处理")
    IMPORT_JOB = "exchange.import_job", _("导入任务")
    CHANGE_REQUEST = "changes.request", _("变动申请")
    CHANGE_STEP = "changes.step", _("审批步骤")
    RULESET = "changes.ruleset", _("变动规则")
    DROPOUT_CASE = "changes.dropout_case", _("控辍保学案件")
    CALENDAR_YEAR = "workdays.year", _("工作日历")
    ARCHIVE_DOCUMENT = "archives.document", _("档案材料")
    ARCHIVE_BACKUP = "archives.backup", _("档案备份")
    ARCHIVE_PAPER = "archives.paper", _("纸质档案")
    RELEASE = "releases.release", _("数据发布")
    CAMPAIGN = "verification.campaign", _("学籍核准")
    CONFIRMATION = "verification.confirmation", _("学期核准")
    ANOMALY_KIND = "anomalies.kind", _("异常类别")
    ANOMALY_FINDING = "anomalies.finding", _("学籍异常")
    ANOMALY_MERGE = "anomalies.merge", _("学籍合并")
    ANOMALY_SIGHTINGS = "anomalies.sightings", _("在校名单")
    CREDENTIAL = "credentials.credential", _("学生身份凭证")
    RELYING_PARTY = "credentials.relying_party", _("依赖方")
    WARNING = "audit.warning", _("预警")
    WARNING_RULESET = "audit.warning_ruleset", _("安全预警规则")
    AUDIT_TRAIL = "audit.trail", _("审计日志")
    NONE = "", _("（无）")


# Object types written before the vocabulary, and what they are now (migration 0003).
LEGACY_OBJECT_TYPES: dict[str, ObjectType] = {
    "user": ObjectType.USER,
    "api_token": ObjectType.API_TOKEN,
    "field_keys": ObjectType.FIELD_KEYS,
    "student": ObjectType.STUDENT,
    "nonbasic_schema": ObjectType.NONBASIC_SCHEMA,
    "school": ObjectType.SCHOOL,
    "batch_run": ObjectType.BATCH_RUN,
    "import_job": ObjectType.IMPORT_JOB,
    "calendar_year": ObjectType.CALENDAR_YEAR,
    "anomaly.kind": ObjectType.ANOMALY_KIND,
    "anomaly.finding": ObjectType.ANOMALY_FINDING,
    "anomaly.merge": ObjectType.ANOMALY_MERGE,
    "anomaly.sightings": ObjectType.ANOMALY_SIGHTINGS,
}


# Lookups by stored value (``AuditAction(value)`` works at run time, but the type checker
# reads it as a call of ``__new__`` and wants the label too).
_ACTIONS: dict[str, AuditAction] = {member.value: member for member in AuditAction}
_OBJECT_TYPES: dict[str, ObjectType] = {member.value: member for member in ObjectType}


def action_of(value: str) -> AuditAction:
    """The member stored as ``value``; ``ValueError`` when the vocabulary lacks it."""
    try:
        return _ACTIONS[value]
    except KeyError:
        raise ValueError(f"unknown audit action {value!r}") from None


def object_type_of(value: str) -> ObjectType:
    try:
        return _OBJECT_TYPES[value]
    except KeyError:
        raise ValueError(f"unknown audit object type {value!r}") from None


def action_label(value: str) -> str:
    """The label of a stored action, or the value itself when the vocabulary lacks it."""
    member = _ACTIONS.get(value)
    return str(member.label) if member is not None else value


def object_type_label(value: str) -> str:
    member = _OBJECT_TYPES.get(value)
    return str(member.label) if member is not None else value


def stored_text(text: str | Promise) -> str:
    """``text`` as stored: lazy parts (choice labels, ``format_lazy``) rendered in Chinese."""
    if isinstance(text, Promise):
        with translation.override(STORED_LANGUAGE):
            return str(text)
    return text
