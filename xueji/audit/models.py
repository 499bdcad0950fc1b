"""The audit trail: one append-only row per write (and, later, per read of personal data)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEventQuerySet(models.QuerySet):
    """The trail is append-only in the ORM too: bulk ``update()`` and ``delete()`` raise.

    (The database refuses them as well: ``audit.0007_append_only``.) Purging what is older
    than the retention goes through ``xueji.audit.retention`` only."""

    def update(self, **kwargs):  # type: ignore[override]
        raise RuntimeError("audit events are append-only")

    def delete(self):  # type: ignore[override]
        raise RuntimeError("audit events are append-only")

    def bulk_update(self, *args, **kwargs):  # type: ignore[override]
        raise RuntimeError("audit events are append-only")

    def bulk_create(self, objs, *args, **kwargs):  # type: ignore[override]
        """Every row is chained (``xueji.audit.chain``) before it is inserted."""
        from .chain import inserting

        objs = list(objs)
        with inserting(self.db, objs):
            return super().bulk_create(objs, *args, **kwargs)


class AuditEvent(models.Model):
    """Who did what, to which object, when and from where.

    Actor and unit are copied as plain values (not foreign keys) so that deleting or
    renaming an account can never rewrite history. Rows are only ever inserted: ``save``
    refuses updates, ``delete`` and the queryset's ``update``/``delete`` are refused, and the
    database refuses ``UPDATE``, ``DELETE`` and ``TRUNCATE`` (migration 0007).

    Each row is a link of a hash chain (``xueji.audit.chain``): ``partition`` (actor id
    modulo ``XUEJI["AUDIT_CHAIN_PARTITIONS"]``), ``seq`` (1, 2, ... within the partition),
    ``prev_hash`` (the previous link's ``row_hash``) and ``row_hash`` (SHA-256 of the row's
    canonical content, ``prev_hash`` included). ``audit_verify`` walks the chains.
    """

    at = models.DateTimeField(_("时间"), db_index=True)
    actor_id = models.BigIntegerField(_("操作人ID"), null=True, blank=True)
    actor_username = models.CharField(_("操作人"), max_length=150, blank=True, default="")
    unit_id = models.BigIntegerField(_("单位ID"), null=True, blank=True)
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True, default="")
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True, default="")
    summary = models.CharField(_("摘要"), max_length=255, blank=True, default="")
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("来源IP"), null=True, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=255, blank=True, default="")
    channel = models.CharField(_("渠道"), max_length=16, blank=True, default="")
    request_id = models.CharField(_("请求ID"), max_length=64, blank=True, default="")
    partition = models.PositiveSmallIntegerField(_("链分区"), default=0)
    seq = models.BigIntegerField(_("链序号"), null=True, blank=True)
    prev_hash = models.CharField(_("前一行哈希"), max_length=64, blank=True, default="")
    row_hash = models.CharField(_("本行哈希"), max_length=64, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计事件")
        verbose_name_plural = _("审计事件")
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor_id", "at"], name="audit_actor_at"),
            models.Index(fields=["unit_id", "at"], name="audit_unit_at"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["partition", "seq"], name="audit_chain_link"),
        ]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("audit events are append-only")
        from .chain import inserting

        with inserting(self._state.db or kwargs.get("using") or "default", [self]):
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise RuntimeError("audit events are append-only")


class AuditChainHead(models.Model):
    """The last link of one partition's chain. Writers lock it (``SELECT ... FOR UPDATE``)
    for the rest of their transaction, so links are appended one writer at a time per
    partition, on PostgreSQL as on SQLite. The only audit table whose rows change."""

    partition = models.PositiveSmallIntegerField(_("链分区"), primary_key=True)
    seq = models.BigIntegerField(_("链序号"), default=0)
    head_hash = models.CharField(_("链头哈希"), max_length=64, default="")

    class Meta:
        verbose_name = _("审计链头")
        verbose_name_plural = _("审计链头")


class AuditCheckpoint(models.Model):
    """The chain heads at one moment, signed with the deployment's key (Ed25519).

    ``payload`` is the signed text (canonical JSON: time, heads, the previous checkpoint's
    digest); an outside party checks ``signature`` over it with ``public_key`` (exported by
    ``audit_checkpoint_export``). Append-only like the trail."""

    at = models.DateTimeField(_("时间"))
    payload = models.TextField(_("签名内容"))
    signature = models.CharField(_("签名"), max_length=128)
    algorithm = models.CharField(_("算法"), max_length=16, default="ed25519")
    public_key = models.CharField(_("公钥"), max_length=64)

    class Meta:
        verbose_name = _("审计检查点")
        verbose_name_plural = _("审计检查点")


class AuditPurge(models.Model):
    """Where a partition's chain now starts after a retention purge: links up to
    ``through_seq`` were deleted; the first kept link's ``prev_hash`` is ``through_hash``.
    The database lets a trail row be deleted only when it is older than the legal floor and
    a purge record covers it (migration 0007). Append-only."""

    at = models.DateTimeField(_("时间"))
    partition = models.PositiveSmallIntegerField(_("链分区"))
    through_seq = models.BigIntegerField(_("清理至序号"))
    through_hash = models.CharField(_("清理至哈希"), max_length=64)
    cutoff = models.DateTimeField(_("清理截止时间"))
    deleted = models.BigIntegerField(_("清理行数"), default=0)
    actor_username = models.CharField(_("操作人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("审计清理记录")
        verbose_name_plural = _("审计清理记录")
        indexes = [models.Index(fields=["partition", "through_seq"], name="audit_purge_part")]


class WarningRole(models.TextChoices):
    """Why a unit receives a warning: it must act, or it is the level above (escalation)."""

    PARTY = "party", _("责任单位")
    ABOVE = "above", _("上级单位")


class EarlyWarning(models.Model):
    """An early warning (预警): something overdue or missing that a unit must act on.

    One open row per (kind, subject, unit): raising again only touches ``last_seen_at``.
    A warning is raised for the unit that must act (``party``) and, escalated, for the level
    above (``above``); resolving the subject closes both. ``message`` is stored data (Chinese).
    Only ``xueji.audit.warnings`` writes these rows.
    """

    kind = models.CharField(_("预警类别"), max_length=48)
    unit = models.ForeignKey(
        "accounts.Unit", on_delete=models.PROTECT, related_name="warnings", verbose_name=_("单位")
    )
    role = models.CharField(_("角色"), max_length=8, choices=WarningRole.choices)
    subject_type = models.CharField(_("对象类型"), max_length=48)
    subject_id = models.CharField(_("对象ID"), max_length=64)
    message = models.CharField(_("内容"), max_length=255)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    due_date = models.DateField(_("办理期限"), null=True, blank=True)
    raised_at = models.DateTimeField(_("预警时间"))
    last_seen_at = models.DateTimeField(_("最近确认时间"))
    resolved_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    resolved_by_username = models.CharField(_("解除人"), max_length=150, blank=True, default="")
    resolved_reason = models.CharField(_("解除原因"), max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id", "unit"],
                condition=models.Q(resolved_at__isnull=True),
                name="warning_one_open",
            ),
        ]
        indexes = [
            models.Index(fields=["unit", "resolved_at"], name="warning_unit_open"),
            models.Index(fields=["subject_type", "subject_id"], name="warning_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_type}#{self.subject_id} → {self.unit_id}"


class WarningRuleSet(models.Model):
    """One version of the national security warning rules (``province_code`` '') or of a
    province's overrides (``xueji.audit.watch_rules``). Versions are only ever added; the
    newest whose ``effective_from`` has passed is in force."""

    province_code = models.CharField(_("省份代码"), max_length=2, blank=True, default="")
    version = models.PositiveIntegerField(_("版本"))
    effective_from = models.DateTimeField(_("生效时间"))
    # {rule: {key: value}}: only what this layer changes.
    rules = models.JSONField(_("规则"), default=dict)
    note = models.CharField(_("说明"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"))
    created_by_username = models.CharField(_("创建人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("安全预警规则集")
        verbose_name_plural = _("安全预警规则集")
        ordering = ["province_code", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["province_code", "version"], name="warning_ruleset_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.province_code or 'national'} v{self.version}"


class WarningWatermark(models.Model):
    """How far the security warning evaluation has read the trail: the next run reads the
    windows from ``evaluated_through`` on. One row per evaluator (``name``)."""

    name = models.CharField(max_length=32, primary_key=True)
    evaluated_through = models.DateTimeField(_("已评估至"))
