"""The workbench's words, Chinese first and English beside: one table, looked up by key.

Codes stay the wire contract; these are only what a person reads. An unknown code is shown
as it is, so a new category never breaks a page.
"""

from __future__ import annotations

from collections.abc import Callable

from consumers import labels

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("调解员工作台", "Mediator workbench"),
    "brand": ("枫桥 · 调解员工作台", "Fengqiao · Mediator workbench"),
    "login": ("登录", "Log in"),
    "logout": ("退出登录", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "login_hint": (
        "请使用管理员发放的个人账号登录。首次登录须设置您自己的密码。",
        "Log in with the personal account your administrator gave you. "
        "At the first login you choose your own password.",
    ),
    "session_ended": (
        "登录已结束（长时间未操作、已退出或账号已停用），请重新登录。",
        "Your session ended (idle too long, logged out, or the account was disabled); "
        "log in again.",
    ),
    "change_password": ("修改密码", "Change password"),
    "must_change": (
        "这是您的首次登录（或密码已被重置）。请设置您自己的新密码后继续。",
        "This is your first login (or your password was reset). "
        "Choose your own new password to continue.",
    ),
    "current_password": ("当前密码", "Current password"),
    "current_temporary": (
        "临时密码（管理员发给您的）",
        "Temporary password (from your administrator)",
    ),
    "new_password": ("新密码", "New password"),
    "confirm_password": ("再次输入新密码", "New password again"),
    "password_rule": (
        "至少 {n} 个字符，不能与用户名相同。",
        "At least {n} characters, not the username.",
    ),
    "save": ("保存", "Save"),
    "password_changed": ("密码已修改。", "Your password was changed."),
    "inbox": ("收件箱", "Inbox"),
    "overview": ("各调委会概况", "Committees overview"),
    "dashboard": ("指挥中心大屏", "Command-center dashboard"),
    "admin": ("账号管理", "Accounts"),
    "admin_new": ("新建账号", "New account"),
    "display_name": ("显示姓名（同事看到的）", "Display name (what colleagues see)"),
    "role": ("角色", "Role"),
    "committee_opt": ("所属调委会（调解员、主任必填）", "Committee (for mediators and heads)"),
    "create": ("创建", "Create"),
    "state": ("状态", "State"),
    "st_active": ("正常", "active"),
    "st_disabled": ("已停用", "disabled"),
    "st_must_change": ("待首次登录改密", "must change password"),
    "disable": ("停用", "Disable"),
    "enable": ("启用", "Enable"),
    "reset": ("重置密码", "Reset password"),
    "you": ("（本人）", " (you)"),
    "admin_created": ("已创建账号 {user}。", "Account {user} created."),
    "admin_disabled": (
        "已停用 {user}，其登录已全部结束。",
        "{user} disabled; their sessions ended.",
    ),
    "admin_enabled": ("已启用 {user}。", "{user} enabled."),
    "admin_reset": ("已重置 {user} 的密码。", "{user}'s password was reset."),
    "admin_not_self": ("不能停用自己的账号。", "You cannot disable your own account."),
    "one_time": (
        "临时密码（只显示这一次，请当面或电话告知本人；首次登录须修改）：",
        "Temporary password (shown once; hand it over in person; it must be changed at first "
        "login):",
    ),
    "view_all": ("全部案件", "All cases"),
    "view_mine": ("分派给我", "Assigned to me"),
    "view_unassigned": ("未分派", "Unassigned"),
    "filter": ("筛选", "Filter"),
    "find_case": ("按案件编号打开", "Open by case id"),
    "open": ("打开", "Open"),
    "clear": ("清除", "Clear"),
    "status": ("状态", "Status"),
    "kind": ("类型", "Kind"),
    "street": ("街道", "Street"),
    "category": ("纠纷类别", "Category"),
    "overdue_only": ("只看超期", "Overdue only"),
    "any": ("全部", "Any"),
    "case_id": ("案件编号", "Case id"),
    "committee": ("承办调委会", "Committee"),
    "sla": ("时限", "Deadline"),
    "routed_at": ("分流时间", "Routed"),
    "assignee": ("承办人", "Mediator"),
    "nobody": ("未分派", "nobody"),
    "no_cases": ("没有符合条件的案件。", "No case matches."),
    "n_cases": ("共 {n} 件", "{n} cases"),
    "showing": ("显示前 {n} 件", "showing the first {n}"),
    "live": ("自动更新中", "updating live"),
    "accept_clock": ("受理时限", "to accept"),
    "conclude_clock": ("办结时限", "to conclude"),
    "conclude_by": ("办结期限", "Conclude by"),
    "done_clock": ("—", "—"),
    "case": ("案件详情", "Case"),
    "back": ("返回收件箱", "Back to the inbox"),
    "facts": ("案件事实", "Facts of the case"),
    "parties": ("当事人及联系方式", "Parties and contacts"),
    "no_report": (
        "案件库中没有这起案件的报告原文（案件早于案件库保存报告的版本，或报告尚未到达）；"
        "请通过原始登记渠道查阅当事人和联系方式。",
        "The case store has no report for this case (it came before reports were kept, or the "
        "report has not arrived yet); look the parties up in the original registration.",
    ),
    "routing": ("分流依据", "Why this committee"),
    "rule": ("适用规则", "Rule"),
    "ruleset": ("规则版本", "Ruleset"),
    "tier": ("层级", "Tier"),
    "reasons": ("理由", "Reasons"),
    "alternatives": ("考虑过但未采用的规则", "Alternatives considered and why not"),
    "n_rules": ("（{n} 条，点击展开）", " ({n}, click to open)"),
    "incident": ("所属群体性事件", "Group incident"),
    "no_incident": ("不属于任何群体性事件。", "Not part of a group incident."),
    "incident_people": ("涉及 {n} 人", "{n} people"),
    "incident_cases": ("{n} 件案件", "{n} cases"),
    "sla_alerts": ("时限预警", "SLA alerts"),
    "no_alerts": ("暂无预警。", "No alerts."),
    "history": ("办理记录", "History"),
    "when": ("时间", "When"),
    "event": ("事项", "Event"),
    "who": ("操作人", "By"),
    "detail": ("说明", "Detail"),
    "system": ("系统", "system"),
    "by_token": ("接口（调委会令牌）", "API (committee token)"),
    "not_applied": ("未执行", "not applied"),
    "actions": ("办理", "Actions"),
    "accept": ("受理", "Accept"),
    "assign": ("分派", "Assign"),
    "assign_to": ("分派给", "Assign to"),
    "transfer": ("转办", "Transfer"),
    "transfer_to": ("转至调委会", "To committee"),
    "transfer_reason": ("转办理由（必填）", "Reason (required)"),
    "conclude": ("办结", "Conclude"),
    "outcome": ("办理结果", "Outcome"),
    "agreed_amount": ("协议金额（元，达成协议时填写）", "Agreed amount (yuan, with an agreement)"),
    "choose": ("请选择", "Choose"),
    "head_only": ("只有调委会主任可以分派案件。", "Only a committee head can assign cases."),
    "no_action": ("此案件已办结，不能再办理。", "The case is concluded; nothing more to do."),
    "submitted": ("已提交：{what}。", "Submitted: {what}."),
    "applied": ("案件已更新。", " The case is updated."),
    "sink_refused": ("案件库未执行此操作：", "The case store did not apply it:"),
    "still_pending": (
        "操作已提交，但案件库尚未更新；请稍后刷新查看。",
        "The action was sent but the case store has not caught up; reload in a while.",
    ),
    "updating": ("正在更新案件状态……", " Updating the case…"),
    "refused": ("未执行", "Not done"),
    "csrf": (
        "安全校验失败：页面已过期或请求不是从本页面发出的。请刷新页面后重试。",
        "The security check failed: the page expired or the request did not come from it. "
        "Reload the page and try again.",
    ),
    "title_forbidden": ("无权访问", "Not allowed"),
    "title_not_found": ("未找到", "Not found"),
    "forbidden": ("您没有权限查看此页面。", "You may not see this page."),
    "not_found": ("没有这个页面或案件。", "No such page or case."),
    "command_note": (
        "指挥中心账号只能查看汇总数字，不显示当事人信息。",
        "Command-center accounts see aggregates only, never personal data.",
    ),
    "open_cases": ("办理中", "Open"),
    "overdue": ("超期", "Overdue"),
    "total": ("合计", "Total"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "skip": ("跳到主要内容", "Skip to content"),
    "amount": ("金额", "Amount"),
    "version": ("版本", "Version"),
    "reason": ("理由", "Reason"),
    "col_new": ("待受理", "New"),
    "col_accepted": ("办理中", "Accepted"),
    "col_concluded": ("已办结", "Concluded"),
    # The facts of a report on the case page (owning committee only).
    "channel": ("渠道", "Channel"),
    "reported_at": ("报告时间", "Reported"),
    "community": ("社区", "Community"),
    # A report's own kind, street and category appear only where they differ from the
    # case's, right under the case's rows of the same name: the label says whose value it is.
    "report_kind": ("报告所填类型", "Kind given in the report"),
    "report_street": ("报告所填街道", "Street given in the report"),
    "report_category": ("报告所填类别", "Category given in the report"),
    "summary": ("案情摘要", "Summary"),
    "amount_involved": ("涉及金额", "Amount involved"),
    "yuan": ("{x} 元", "{x} yuan"),
    "party_count": ("当事人人数", "Parties"),
    "collective": ("群体性纠纷", "Collective dispute"),
    "yes": ("是", "yes"),
    "persons": ("{n} 人", "{n}"),
    "party_role": ("身份", "Role"),
    "party_kind": ("类别", "Kind"),
    "party_name": ("姓名/名称", "Name"),
    "phone": ("联系电话", "Phone"),
    "id_number": ("身份证号", "Id number"),
    "credit_code": ("统一社会信用代码", "Credit code"),
    "no_parties": ("报告未列出当事人。", "The report lists no parties."),
    "employer": ("用人单位", "Employer"),
    "project": ("工程项目", "Project"),
    "contact": ("联系人", "Contact"),
    "worker_count": ("涉及工人", "Workers"),
    "months_owed": ("欠薪月数", "Months owed"),
    "months": ("{n} 个月", "{n} months"),
    "target_agency": ("反映对象", "Agency petitioned"),
    "petitioner_count": ("信访人数", "Petitioners"),
    "repeat_of": ("重复信访（原件）", "Repeat of"),
    "also_reported": ("另经 {via}于 {when} 报告", "Also reported via {via} on {when}"),
    "report_details": ("这次报告的内容", "What this report said"),
    "report": ("报告", "report"),
    # splitting off a report, and linking two cases by hand
    "unlink_button": ("不是同一事项（拆分）", "Not the same matter (split off)"),
    "unlink_reason": ("拆分理由（必填）", "Why it is not the same matter (required)"),
    "unlink_hint": (
        "拆分后，这份报告将另立为一个案件，按分流规则重新分派。",
        "Split off, this report becomes a case of its own and is routed by the rules.",
    ),
    "link_title": ("关联另一案件", "Link another case"),
    "link_case_id": ("要关联的案件编号", "Case number to link"),
    "link_reason": ("关联理由（必填）", "Why they are one matter (required)"),
    "link_button": ("关联到本案", "Link to this case"),
    "link_hint": (
        "被关联的案件并入本案：其后续报告都归入本案，两案的办理记录均保留。",
        "The other case joins this one: its later reports join this case, and both keep "
        "their histories.",
    ),
    "unlink": ("拆分报告", "split off the report"),
    "link": ("关联案件", "link the cases"),
    "unlink_next": (
        "该报告将另立为一个案件，并按分流规则重新分派；新案件出现在相应调委会的待办中，"
        "本页的办理记录会显示“取消关联”。",
        " The report will become a case of its own and be routed by the rules; the new case "
        "appears in its committee's inbox, and this page's history shows the split.",
    ),
    "separate": ("取消案件关联", "separate the cases"),
    "separate_hint": (
        "拆分后，该案件与本案不再关联，各自办理。",
        "Split off, that case is no longer linked to this one: each is worked on its own.",
    ),
    "separate_next": (
        "两案不再关联，各自办理；此后的报告按各自案件归并。",
        " The two cases are no longer linked and are worked separately; later reports join "
        "each its own case.",
    ),
    "link_next": (
        "另一案件将并入本案：其报告列在本案“另经……报告”之下，其后续报告也归入本案；"
        "两案的办理记录均保留。",
        " The other case joins this one: its report is listed here as a further report, and "
        "its later reports join this case; both keep their histories.",
    ),
}

STATUS: dict[str, tuple[str, str]] = {
    "new": ("待受理", "new"),
    "accepted": ("办理中", "accepted"),
    "concluded": ("已办结", "concluded"),
    "closed": ("已归档", "closed"),
}

KIND: dict[str, tuple[str, str]] = {
    "dispute": (labels.KINDS["dispute"], "dispute"),
    "petition": (labels.KINDS["petition"], "petition"),
    "wage_arrears": (labels.KINDS["wage_arrears"], "wage arrears"),
}

OUTCOME: dict[str, tuple[str, str]] = {
    "agreement": ("达成协议", "agreement"),
    "no_agreement": ("未达成协议", "no agreement"),
    "withdrawn": ("撤回", "withdrawn"),
    "referred": ("转办", "referred"),
}

EVENT: dict[str, tuple[str, str]] = {
    "case.routed.v1": ("分流", "routed"),
    "case.accepted.v1": ("受理", "accepted"),
    "case.assigned.v1": ("分派承办人", "assigned"),
    "case.transferred.v1": ("转办", "transferred"),
    "case.concluded.v1": ("办结", "concluded"),
    "case.closed.v1": ("归档", "closed"),
    "case.linked.v1": ("关联报告", "report linked"),
    "case.unlinked.v1": ("取消关联", "report unlinked"),
}

CHANNEL: dict[str, tuple[str, str]] = {
    "hotline": ("热线", "hotline"),
    "miniapp": ("小程序", "mini-app"),
    "walkin": ("窗口登记", "walk-in"),
    "referral": ("部门移交", "referral"),
    "web": ("网上", "web"),
    "letter": ("来信", "letter"),
    "visit": ("来访", "visit"),
}
PARTY_ROLE: dict[str, tuple[str, str]] = {
    "applicant": ("申请人", "applicant"),
    "respondent": ("被申请人", "respondent"),
}
PARTY_KIND: dict[str, tuple[str, str]] = {
    "person": ("自然人", "person"),
    "organisation": ("单位", "organisation"),
}

SLA_ALERT: dict[str, tuple[str, str]] = {
    "sla.warning.v1": ("时限预警", "warning"),
    "sla.breached.v1": ("已超时", "breached"),
}
CLOCK: dict[str, tuple[str, str]] = {
    "accept": ("受理", "accept"),
    "conclude": ("办结", "conclude"),
}
TIER: dict[str, tuple[str, str]] = {
    "community": ("社区", "community"),
    "street": ("街道", "street"),
    "district": ("区级", "district"),
    "city": ("市级", "city"),
}


def pick(table: dict[str, tuple[str, str]], code: str | None, lang: str) -> str:
    if code is None:
        return ""
    pair = table.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]


def category(code: str, lang: str) -> str:
    return code.replace("_", " ") if lang == "en" else labels.CATEGORIES.get(code, code)


def translator(lang: str) -> Callable[..., str]:
    """``t("key", n=3)`` in templates."""

    def t(key: str, **params: object) -> str:
        pair = TEXT.get(key)
        text = key if pair is None else (pair[1] if lang == "en" else pair[0])
        return text.format(**params) if params else text

    return t
