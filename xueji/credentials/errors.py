"""Chinese texts of the verification outcomes (``rules.Reason``), for pages, the command
and the endpoint's ``message``."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .rules import Reason

REASON_TEXT: dict[str, Promise] = {
    Reason.MALFORMED: _("凭证格式错误，无法解析"),
    Reason.TYP: _("不是学生身份凭证（typ 不符）"),
    Reason.ALG: _("签名或摘要算法不受支持"),
    Reason.UNKNOWN_KEY: _("签发密钥未公布（未知密钥）"),
    Reason.KEY_RETIRED: _("签发密钥已停用，凭证不再有效"),
    Reason.SIGNATURE: _("签发方签名无效（凭证被篡改）"),
    Reason.ISSUER: _("签发方不是本系统"),
    Reason.VCT: _("凭证类型不符"),
    Reason.EXPIRED: _("凭证已过有效期"),
    Reason.NOT_YET_VALID: _("凭证尚未生效"),
    Reason.DISCLOSURE: _("披露内容无效（被篡改或重复）"),
    Reason.KB_MISSING: _("缺少持有人绑定（KB-JWT）"),
    Reason.KB_SIGNATURE: _("持有人签名无效"),
    Reason.KB_NONCE: _("随机数（nonce）不符"),
    Reason.KB_AUDIENCE: _("受众（audience）不符"),
    Reason.KB_SD_HASH: _("出示内容与持有人签名不符"),
    Reason.KB_STALE: _("出示已过时，请重新出示"),
    Reason.STATUS_UNAVAILABLE: _("无法取得状态列表"),
    Reason.REVOKED: _("凭证已吊销"),
    Reason.SUSPENDED: _("凭证已暂停（休学等）"),
    Reason.NOT_ALLOWED: _("披露了依赖方无权获取的信息"),
}


def reason_text(code: str) -> str:
    text = REASON_TEXT.get(code)
    return str(text) if text is not None else code
