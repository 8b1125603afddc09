"""CLI commands over the state table: create it, list a key's changes, roll one back.

    python -m remediator state create-table NAME
    python -m remediator history --key KEY_ARN [--state-table NAME]
    python -m remediator rollback --key KEY_ARN [--change-id ID] [--force] [--state-table NAME]

Rollback restores the key policy recorded before the change (or revokes the grant), under the
same per-key lock the Lambda takes. It refuses when the key policy has changed since the
recorded change, unless ``--force``, and it notifies the topic named by $NOTIFY_TOPIC_ARN.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from remediator.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: Any) -> None:
    state = sub.add_parser("state", help="manage the DynamoDB state table")
    state_sub = state.add_subparsers(dest="state_command", required=True)
    create = state_sub.add_parser("create-table", help="create the table with the stack's schema")
    create.add_argument("name")

    history = sub.add_parser("history", help="list the recorded changes to a key")
    history.add_argument("--key", required=True, metavar="KEY_ARN")
    history.add_argument("--state-table", metavar="NAME")

    rollback = sub.add_parser("rollback", help="undo a recorded change to a key")
    rollback.add_argument("--key", required=True, metavar="KEY_ARN")
    rollback.add_argument("--change-id", help="default: the latest change")
    rollback.add_argument("--force", action="store_true", help="even if the policy changed since")
    rollback.add_argument("--state-table", metavar="NAME")


def run(args: argparse.Namespace) -> int | None:
    """Run a state command; None when ``args`` is not one of them."""
    if args.command == "state":
        import boto3  # noqa: PLC0415

        from remediator.state import create_table  # noqa: PLC0415

        create_table(boto3.client("dynamodb"), args.name)
        print(json.dumps({"created": args.name}))
        return EXIT_OK
    if args.command == "history":
        print(json.dumps(_state(args).history(args.key), indent=2, sort_keys=True))
        return EXIT_OK
    if args.command == "rollback":
        result, code = rollback(_state(args), args.key, args.change_id, force=args.force)
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
        return code
    return None


def _state(args: argparse.Namespace) -> Any:
    from remediator.cli import UsageError  # noqa: PLC0415
    from remediator.state import DynamoState  # noqa: PLC0415

    table = args.state_table or os.environ.get(Settings.ENV_STATE_TABLE)
    if not table:
        raise UsageError(f"name the state table with --state-table or ${Settings.ENV_STATE_TABLE}")
    return DynamoState(table)


def rollback(
    state: Any, key_arn: str, change_id: str | None, *, force: bool
) -> tuple[dict[str, Any], int]:
    """Undo one recorded change. Returns (the report, the exit code)."""
    from remediator.aws import AwsAdapter  # noqa: PLC0415
    from remediator.policy import parse_policy, render  # noqa: PLC0415

    changes = [c for c in state.history(key_arn) if c.get("remedy") in ("key-policy", "grant")]
    chosen = [c for c in changes if c["change_id"] == change_id] if change_id else changes[-1:]
    if not chosen:
        return {
            "outcome": "refused",
            "reason": f"no recorded change {change_id or ''} for {key_arn}",
        }, EXIT_USAGE
    change = chosen[0]
    aws = AwsAdapter(region=key_arn.split(":")[3])
    result: dict[str, Any] = {
        "key_arn": key_arn,
        "change_id": change["change_id"],
        "remedy": change["remedy"],
    }
    with state.lock(key_arn):
        if change["remedy"] == "grant":
            grant_id = change["after"]["grant_id"]
            aws.revoke_grant(key_arn, grant_id)
            remaining = {g.grant_id for g in aws.list_grants(key_arn)}
            ok = grant_id not in remaining
            result |= {"revoked_grant_id": grant_id}
        else:
            current = parse_policy(aws.get_key_policy(key_arn))
            later = [c for c in changes if c["at"] > change["at"]]
            if (current != change["after"] or later) and not force:
                reason = "the key policy changed since this change was made"
                if later:
                    reason += f" (later changes: {[c['change_id'] for c in later]})"
                result |= {
                    "outcome": "refused",
                    "reason": reason + "; use --force to restore anyway",
                }
                _notify(aws, result)
                return result, EXIT_FAILED
            text = render(change["before"])
            assert text is not None  # it was a valid key policy before
            aws.put_key_policy(key_arn, text)
            ok = parse_policy(aws.get_key_policy(key_arn)) == change["before"]
            result |= {"restored_policy": change["before"]}
    result["outcome"] = "rolled_back" if ok else "failed"
    result["reason"] = "restored as recorded" if ok else "verification after rollback failed"
    _notify(aws, result)
    return result, EXIT_OK if ok else EXIT_FAILED


def _notify(aws: Any, result: dict[str, Any]) -> None:
    topic = os.environ.get(Settings.ENV_TOPIC)
    if topic:
        subject = f"[kms-launch-remediator] rollback {result['outcome']}: {result['key_arn'][-36:]}"
        aws.publish(topic, subject[:100], json.dumps(result, default=str), result["outcome"])
