"""What a remedy checks before and after it writes, and what it reports: vetting a new key
policy, verifying the one read back, the planned changes of a dry run, and how to undo."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from remediator.authorization import Blocker
from remediator.decision import Action, Decision, Facts, GrantPlan, launch_verdict, policy_diff
from remediator.model import KeyInfo
from remediator.outcomes import Outcome
from remediator.policy import ADMIN_ACTIONS, admin_actions_granted, same_untouched_parts
from remediator.ports import AwsPort
from remediator.report import Result


def no_change(decision: Decision) -> Result:
    """The result of a decision that changes nothing."""
    if decision.action is Action.NOTHING:
        return Result(Outcome.ALREADY_ALLOWED, decision.reason)
    outcome = (
        Outcome.BLOCKED_ELSEWHERE
        if decision.action is Action.BLOCKED_ELSEWHERE
        else Outcome.REFUSED
    )
    return Result(outcome, decision.reason, suggested_fix=decision.suggested_fix)


def planned_changes(decision: Decision) -> dict[str, Any]:
    """What a dry run reports it would apply."""
    if decision.policy_change is not None:
        return {"statements": policy_diff(decision.policy_change)}
    assert decision.grant is not None
    return {"grant": plan_record(decision.grant)}


def plan_record(plan: GrantPlan) -> dict[str, Any]:
    return {"name": plan.name, "grantee": plan.grantee, "operations": list(plan.operations)}


def vet(aws: AwsPort, policy_text: str, added: list[dict[str, Any]]) -> str | None:
    """Why the new policy must not be applied, or None. The local check always runs;
    Access Analyzer adds its own where it is available."""
    granted = admin_actions_granted(added)
    if granted:
        return f"the added statements would grant administrative actions {granted}"
    findings = aws.validate_policy(policy_text)
    errors = [f for f in findings or [] if f.get("findingType") == "ERROR"]
    if errors:
        details = "; ".join(f"{f.get('issueCode')}: {f.get('findingDetails')}" for f in errors)
        return f"Access Analyzer ValidatePolicy reported errors: {details}"
    added_text = json.dumps({"Version": "2012-10-17", "Statement": added})
    checked = aws.check_access_not_granted(added_text, ADMIN_ACTIONS)
    if checked is not None and checked[0] != "PASS":
        return (
            f"Access Analyzer: the added statements may grant administrative access: {checked[1]}"
        )
    return None


def verify_key_policy(facts: Facts, after: dict[str, Any]) -> str | None:
    """The problem with the policy read back after PutKeyPolicy, or None when it holds: the
    launch is allowed (or, for a principal of another account, the key's side of it is), and
    every statement the tool did not write is as it was."""
    assert facts.policy is not None
    verdict = launch_verdict(replace(facts, policy=after))
    if not verdict.allowed and verdict.blocker is not Blocker.OTHER_ACCOUNT_IDENTITY:
        return verdict.detail
    if not same_untouched_parts(facts.policy, after):
        # Compared exactly (exact_json.same): a changed number, a boolean become a string, a
        # dropped or added name all count, though Python's == would hold some of them equal.
        return "statements the tool did not write (or the policy's Version or Id) changed"
    return None


def policy_undo(key: KeyInfo, principal_arn: str, before: Any, change_id: str) -> dict[str, Any]:
    undo: dict[str, Any] = {
        "description": f"restore the key policy as it was before {principal_arn} was added",
        "cli": f"aws kms put-key-policy --key-id {key.arn} --policy-name default "
        "--policy file://previous-policy.json",
        "previous_policy": before,
    }
    if change_id:
        undo["rollback"] = f"python -m remediator rollback --key {key.arn} --change-id {change_id}"
    return undo


def grant_undo(key_arn: str, grant_id: str) -> dict[str, Any]:
    return {
        "description": "revoke the grant",
        "cli": f"aws kms revoke-grant --key-id {key_arn} --grant-id {grant_id}",
    }
