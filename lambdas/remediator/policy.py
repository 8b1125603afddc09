"""Key policies, as plain data: parsing, the actions a launch needs, the statements this tool
adds, merging them in and taking them out. Pure functions; nothing here calls AWS. Whether a
policy allows a launch is ``access.py``'s question.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator import exact_json
from remediator.arns import Principal, launches_for_its_service
from remediator.launch_model import LaunchKind, via_service
from remediator.wildcards import action_like

MAX_KEY_POLICY_BYTES = 32 * 1024
SID_PREFIX = "KmsLaunchRemediator"
SID_USE = f"{SID_PREFIX}Use"
SID_USE_VIA_EC2 = f"{SID_PREFIX}UseViaEc2"
SID_ATTACH = f"{SID_PREFIX}Attach"
TOOL_SIDS = (SID_USE, SID_USE_VIA_EC2, SID_ATTACH)

# The key-policy statements AWS documents for a key a service-linked role uses: "allow use of
# the key" and "allow attachment of persistent resources" (EC2 Auto Scaling user guide,
# "Required AWS KMS key policy for use with encrypted volumes").
USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
)
ATTACH_ACTIONS = ("kms:CreateGrant",)
# The actions a diagnosis checks the key policy for, one by one: the calls of a RunInstances
# launch (``launch_model.LAUNCHES``) and DescribeKey, which EBS also calls. Whether a launch is
# allowed is judged on the launch model, per kind, by ``authorization.authorize``.
LAUNCH_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
)
# Grant operations for the grant remedy: the cross-account Auto Scaling grant AWS documents
# (launch_model.ASG_KEY_POLICY, example 2).
GRANT_OPERATIONS = (
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
)


# Administrative actions the tool must never grant; checked locally on every change, and by
# Access Analyzer's CheckAccessNotGranted where it is available.
ADMIN_ACTIONS = (
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:DisableKeyRotation",
    "kms:DeleteImportedKeyMaterial",
    "kms:RevokeGrant",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
)


class PolicyError(ValueError):
    """A key policy this tool cannot safely read or change."""


def parse_policy(text: str) -> dict[str, Any]:
    """Read a key policy strictly (``exact_json``): text with a duplicate name, a non-finite
    number or a non-standard constant is refused, since KMS might read it differently."""
    try:
        policy = exact_json.loads(text)
    except exact_json.JsonTextError as err:
        raise PolicyError(f"key policy {err}") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), (list, dict)):
        raise PolicyError("key policy has no Statement list")
    return policy


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    items = [found] if isinstance(found, dict) else list(found)
    if not all(isinstance(item, dict) for item in items):
        raise PolicyError("a key policy statement is not an object")
    return items


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def action_matches(stmt: Mapping[str, Any], action: str) -> bool:
    """Whether ``Action`` (or ``NotAction``) covers ``action``, with IAM's wildcards."""
    if "NotAction" in stmt:
        return not any(action_like(str(p), action) for p in as_list(stmt["NotAction"]))
    return any(action_like(str(p), action) for p in as_list(stmt.get("Action")))


# --- The statements this tool writes --------------------------------------------------------


def tool_statements(
    principal: Principal,
    key_account: str,
    key_region: str,
    kind: LaunchKind = LaunchKind.RUN_INSTANCES,
) -> list[dict[str, Any]]:
    """The least statements that let ``principal`` launch with the key, per launch kind
    (``launch_model.LAUNCHES``):

    - StartInstances needs only ``kms:CreateGrant`` for AWS resources (the attach statement).
    - The service-linked role of a service that launches with it (Auto Scaling, Spot, Spot
      Fleet, EC2 Fleet: ``arns.LAUNCHER_SLR_SERVICES``), in the key's own account, gets the
      AWS-documented pair: the unrestricted "use" statement and the attach statement (its
      permissions policy is fixed by AWS;
      https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html).
    - Every other principal, other services' service-linked roles included, gets the use actions
      only through EC2 (``kms:ViaService``, in the key's partition), and the attach statement.
    """
    attach = _statement(SID_ATTACH, ATTACH_ACTIONS, {"Bool": {"kms:GrantIsForAWSResource": "true"}})
    if kind is LaunchKind.START_INSTANCES:
        found = [attach]
    elif launches_for_its_service(principal) and principal.account == key_account:
        found = [_statement(SID_USE, USE_ACTIONS, None), attach]
    else:
        via = {"StringEquals": {"kms:ViaService": via_service(key_region, principal.partition)}}
        found = [_statement(SID_USE_VIA_EC2, USE_ACTIONS, via), attach]
    for stmt in found:
        stmt["Principal"] = {"AWS": [principal.arn]}
    return found


def _statement(
    sid: str, actions: tuple[str, ...], condition: dict[str, Any] | None
) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": []}}
    stmt["Action"] = list(actions)
    stmt["Resource"] = "*"
    if condition:
        stmt["Condition"] = condition
    return stmt


@dataclass(frozen=True)
class PolicyChange:
    before: dict[str, Any]
    after: dict[str, Any]
    changed_sids: tuple[str, ...]  # tool statements added or extended

    @property
    def is_noop(self) -> bool:
        return not self.changed_sids


def add_principal(
    policy: Mapping[str, Any],
    principal: Principal,
    key_account: str,
    key_region: str,
    kind: LaunchKind = LaunchKind.RUN_INSTANCES,
) -> PolicyChange:
    """Add ``principal`` to this tool's statements, creating them if needed.

    Statements the tool did not write are carried over untouched, in order. A statement that
    carries one of this tool's Sids but not its shape was edited by someone else: the tool
    will not touch it, and raises ``PolicyError``.
    """
    after = copy.deepcopy(dict(policy))
    items = statements(after)
    changed: list[str] = []
    for wanted in tool_statements(principal, key_account, key_region, kind):
        existing = [s for s in items if s.get("Sid") == wanted["Sid"]]
        if len(existing) > 1:
            raise PolicyError(
                f"the key policy has {len(existing)} statements with Sid {wanted['Sid']!r}"
            )
        if not existing:
            items.append(wanted)
            changed.append(wanted["Sid"])
            continue
        stmt = existing[0]
        names = _own_statement_principals(stmt, wanted)
        if principal.arn not in names:
            stmt["Principal"] = {"AWS": sorted({*names, principal.arn})}
            changed.append(wanted["Sid"])
    after["Statement"] = items
    return PolicyChange(
        before=copy.deepcopy(dict(policy)), after=after, changed_sids=tuple(changed)
    )


def _own_statement_principals(stmt: Mapping[str, Any], template: Mapping[str, Any]) -> list[str]:
    """The principals of a statement this tool wrote; raise if anything else about it changed."""
    if not exact_json.same(
        {k: v for k, v in stmt.items() if k != "Principal"},
        {k: v for k, v in template.items() if k != "Principal"},
    ):
        raise PolicyError(
            f"statement {stmt.get('Sid')!r} carries this tool's Sid but was changed by someone "
            "else; the tool does not edit statements it did not write"
        )
    value = stmt.get("Principal")
    names = (
        as_list(value.get("AWS")) if isinstance(value, Mapping) and set(value) == {"AWS"} else None
    )
    if names is None or not all(isinstance(n, str) and n != "*" and "*" not in n for n in names):
        raise PolicyError(f"statement {stmt.get('Sid')!r} has a Principal this tool did not write")
    return names


def remove_principal(policy: Mapping[str, Any], principal_arn: str) -> dict[str, Any]:
    """Undo: drop ``principal_arn`` from this tool's statements, and drop emptied ones."""
    after = copy.deepcopy(dict(policy))
    kept = []
    for stmt in statements(after):
        if stmt.get("Sid") in TOOL_SIDS and isinstance(stmt.get("Principal"), Mapping):
            names = [n for n in as_list(stmt["Principal"].get("AWS")) if n != principal_arn]
            if not names:
                continue
            stmt["Principal"] = {"AWS": names}
        kept.append(stmt)
    after["Statement"] = kept
    return after


def render(policy: Mapping[str, Any]) -> str | None:
    """The text to send to PutKeyPolicy: indented when that fits in 32 KB, compact when only
    that fits, and None when the policy cannot fit at all. Numbers are written as they were
    read (``exact_json``); a value no key policy may hold (a non-finite number, a value that
    is not JSON) raises ``PolicyError``, so it is never written."""
    try:
        texts = (exact_json.dumps(policy, indent=2), exact_json.dumps(policy))
    except exact_json.JsonTextError as err:
        raise PolicyError(f"key policy {err}") from None
    for text in texts:
        if len(text.encode()) <= MAX_KEY_POLICY_BYTES:
            return text
    return None


def admin_actions_granted(items: list[dict[str, Any]]) -> list[str]:
    """The administrative actions that any Allow among ``items`` grants (by glob or NotAction)."""
    return [
        action
        for action in ADMIN_ACTIONS
        if any(s.get("Effect") == "Allow" and action_matches(s, action) for s in items)
    ]


def non_tool_statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in statements(policy) if s.get("Sid") not in TOOL_SIDS]


def untouched_parts(policy: Mapping[str, Any]) -> dict[str, Any]:
    """Everything in the policy this tool does not write: its elements other than Statement
    (Version, Id) and the statements without this tool's Sids, in order."""
    parts = {name: value for name, value in policy.items() if name != "Statement"}
    parts["Statement"] = non_tool_statements(policy)
    return parts


def same_untouched_parts(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether ``after`` keeps everything of ``before`` that this tool does not write, exactly
    (``exact_json.same``: the same names, the same strings, booleans and number values)."""
    return exact_json.same(untouched_parts(before), untouched_parts(after))
