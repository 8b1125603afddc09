"""What people read: the email text of a report (what failed, who and which key, a compact
diff, a complete undo command, console links), and the undo commands completed to be pasted."""

from __future__ import annotations

import json
import shlex

import pytest

from remediator.notification import console_links, email_text, rollback_text
from remediator.outcomes import Outcome
from remediator.report import Report, Result, complete_undo

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USER = "arn:aws:iam::111122223333:user/ops-alice"
BOB = "arn:aws:iam::111122223333:user/ops-bob"
ROOT_STATEMENT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "kms:*",
    "Resource": "*",
}
VIA_EC2 = {
    "Sid": "KmsLaunchRemediatorUseViaEc2",
    "Effect": "Allow",
    "Principal": {"AWS": [BOB, USER]},
    "Action": ["kms:Encrypt", "kms:Decrypt"],
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}},
}
ATTACH = {
    "Sid": "KmsLaunchRemediatorAttach",
    "Effect": "Allow",
    "Principal": {"AWS": [USER]},
    "Action": ["kms:CreateGrant"],
    "Resource": "*",
    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
}
PREVIOUS = {
    "Version": "2012-10-17",
    "Statement": [ROOT_STATEMENT, {**VIA_EC2, "Principal": {"AWS": [BOB]}}],
}


def remediated(**fields: object) -> Report:
    base: dict[str, object] = {
        "trigger": "InstanceLaunchFailed",
        "key_arn": KEY,
        "principal_arn": USER,
        "instance_id": "i-0123456789abcdef0",
        "group_name": "web-asg",
        "remedy": "key-policy",
        "changes": {"statements": [VIA_EC2, ATTACH]},
        "undo": {
            "previous_policy": PREVIOUS,
            "cli": "aws kms put-key-policy ... file://previous-policy.json",
        },
        "change_id": "1700000000-abcd1234",
    }
    return Report(
        Outcome.REMEDIATED,
        "evt-1",
        "the key policy does not allow the launch",
        **{**base, **fields},
    )  # type: ignore[arg-type]


def test_email_text_says_what_failed_who_and_which_key() -> None:
    text = email_text(remediated())
    assert text.startswith("An EC2 launch failed on a KMS key, and the remediator fixed the key.")
    assert "Why: the key policy does not allow the launch" in text
    assert "  what       an instance stopped or terminated with Client.InternalError" in text
    assert f"  principal  {USER}" in text
    assert f"  key        {KEY}" in text
    assert "  instance   i-0123456789abcdef0" in text
    assert "  group      web-asg" in text
    assert "Event evt-1, change 1700000000-abcd1234." in text


def test_email_text_diff_marks_added_statements_and_added_principals() -> None:
    text = email_text(remediated())
    # an existing statement extended: only the principal added is shown
    assert f"  ~ statement KmsLaunchRemediatorUseViaEc2: principal added {USER}" in text
    assert BOB not in text
    # a new statement: what it allows, under which condition, to whom
    assert "  + statement KmsLaunchRemediatorAttach: Allow kms:CreateGrant" in text
    assert "      only when kms:GrantIsForAWSResource = true" in text
    assert f"      for {USER}" in text


def test_email_text_shows_a_grant_and_its_operations() -> None:
    grant = {
        "grant_id": "g-1",
        "grant_name": "kms-launch-remediator-0123",
        "grantee": USER,
        "operations": ["Decrypt", "CreateGrant"],
    }
    text = email_text(remediated(remedy="grant", changes=grant, undo=None))
    assert f"  + grant kms-launch-remediator-0123 (id g-1) to {USER}" in text
    assert "      operations Decrypt, CreateGrant" in text


def test_email_text_of_a_dry_run_says_what_would_change() -> None:
    report = remediated(undo=None, change_id=None)
    text = email_text(Report(**{**report.__dict__, "outcome": Outcome.DRY_RUN}))
    assert "Would change (the key policy of" in text
    assert "  + statement KmsLaunchRemediatorUseViaEc2" in text  # no previous policy known


def test_email_text_of_a_refusal_carries_the_fix() -> None:
    fix = {
        "key_policy_statements": [ATTACH],
        "key_policy_note": "Add these statements to the policy of the key.",
        "grant_cli": "aws kms create-grant --key-id K ...",
        "grant_note": "Run from account 111122223333.",
    }
    report = Report(
        Outcome.REFUSED,
        "evt-2",
        "the principal is not in the allowlist (allow.principals)",
        key_arn=KEY,
        principal_arn=USER,
        suggested_fix=fix,
    )
    text = email_text(report)
    assert "What a person can do" in text
    assert "  Add these statements to the policy of the key." in text
    assert '      "Sid": "KmsLaunchRemediatorAttach",' in text
    assert "  Or make a grant. Run from account 111122223333." in text
    assert "  aws kms create-grant --key-id K ..." in text
    assert "What changed" not in text


def test_email_text_undo_leads_with_the_rollback_command() -> None:
    result = Result(
        Outcome.REMEDIATED,
        "r",
        changes={"statements": [ATTACH]},
        undo={"previous_policy": PREVIOUS},
        change_id="c-9",
    )
    completed = complete_undo(result, KEY, "remediator-state")
    report = remediated(undo=completed.undo)
    lines = email_text(report).splitlines()
    at = lines.index("How to undo (from the repository root, in its virtualenv, for rollback)")
    assert lines[at + 1].strip().startswith("PYTHONPATH=lambdas python -m remediator rollback")
    assert lines[at + 2] == "  or by hand:"
    assert lines[at + 3].strip().startswith("aws kms put-key-policy")


@pytest.mark.parametrize(
    ("key", "host"),
    [
        (KEY, "https://eu-west-1.console.aws.amazon.com"),
        (
            KEY.replace(":aws:", ":aws-cn:").replace("eu-west-1", "cn-north-1"),
            "https://cn-north-1.console.amazonaws.cn",
        ),
        (
            KEY.replace(":aws:", ":aws-us-gov:").replace("eu-west-1", "us-gov-west-1"),
            "https://us-gov-west-1.console.amazonaws-us-gov.com",
        ),
    ],
    ids=["aws", "aws-cn", "aws-us-gov"],
)
def test_console_links_of_key_instance_and_group_per_partition(key: str, host: str) -> None:
    region = key.split(":")[3]
    links = dict(console_links(remediated(key_arn=key)))
    assert links == {
        "key": f"{host}/kms/home?region={region}#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab",
        "instance": f"{host}/ec2/home?region={region}#InstanceDetails:instanceId=i-0123456789abcdef0",
        "group": f"{host}/ec2/home?region={region}#AutoScalingGroupDetails:id=web-asg;view=details",
    }


def test_console_links_need_a_key_arn() -> None:
    assert console_links(remediated(key_arn=None)) == []
    assert console_links(remediated(key_arn="alias/ebs")) == []


def test_complete_undo_policy_command_carries_the_previous_policy_inline() -> None:
    # Given a key-policy change recorded with a state table
    result = Result(
        Outcome.REMEDIATED,
        "r",
        changes={"statements": [ATTACH]},
        undo={"description": "restore", "previous_policy": PREVIOUS, "cli": "old"},
        change_id="c-9",
    )

    # When its undo is completed
    undo = complete_undo(result, KEY, "remediator-state").undo
    assert undo is not None

    # Then both commands are whole: the rollback with table and region, and the AWS CLI one
    # whose --policy is the previous policy itself (shell-quoted)
    assert undo["rollback"] == (
        "PYTHONPATH=lambdas python -m remediator rollback "
        f"--key {KEY} --state-table remediator-state --region eu-west-1 --change-id c-9"
    )
    command = shlex.split(undo["cli"])
    assert command[:3] == ["aws", "kms", "put-key-policy"]
    assert json.loads(command[command.index("--policy") + 1]) == PREVIOUS
    assert command[command.index("--region") + 1] == "eu-west-1"
    assert undo["description"] == "restore"


def test_complete_undo_quotes_a_policy_with_quotes_in_it() -> None:
    previous = {**PREVIOUS, "Id": "it's the admins' policy; rm -rf $HOME"}
    result = Result(Outcome.REMEDIATED, "r", undo={"previous_policy": previous}, change_id="c")
    undo = complete_undo(result, KEY, None).undo
    assert undo is not None
    command = shlex.split(undo["cli"])
    assert json.loads(command[command.index("--policy") + 1]) == previous


def test_complete_undo_grant_command_names_the_grant_and_region() -> None:
    result = Result(
        Outcome.REMEDIATED,
        "r",
        changes={"grant_id": "g-1"},
        undo={"description": "revoke the grant", "cli": "aws kms revoke-grant ..."},
        change_id="c-2",
    )
    undo = complete_undo(result, KEY, "t").undo
    assert undo is not None
    assert undo["cli"] == f"aws kms revoke-grant --key-id {KEY} --grant-id g-1 --region eu-west-1"
    assert undo["rollback"].endswith("--state-table t --region eu-west-1 --change-id c-2")


def test_complete_undo_without_table_name_keeps_the_rollback_it_was_given() -> None:
    result = Result(
        Outcome.REMEDIATED,
        "r",
        undo={"previous_policy": PREVIOUS, "rollback": "as recorded"},
        change_id="c",
    )
    undo = complete_undo(result, KEY, None).undo
    assert undo is not None
    assert undo["rollback"] == "as recorded"


def test_complete_undo_leaves_a_result_without_undo_alone() -> None:
    result = Result(Outcome.REFUSED, "no")
    assert complete_undo(result, KEY, "t") is result


def test_rollback_text_names_the_key_change_and_console() -> None:
    text = rollback_text(
        {
            "outcome": "rolled_back",
            "reason": "restored as recorded",
            "key_arn": KEY,
            "change_id": "c-1",
            "remedy": "key-policy",
        }
    )
    assert text.startswith("Rollback rolled_back: restored as recorded")
    assert "  change     c-1 (key-policy)" in text
    assert "#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab" in text
