"""Key-policy text read strictly and written back exactly: text that JSON readers disagree on
(duplicate names, non-finite numbers) is refused and never written, numbers keep every digit
through the remediation, and rollback writes the recorded policy with the same renderer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from remediator.adapters.aws import AwsAdapter
from remediator.outcomes import Outcome
from remediator.ports import NoState
from remediator.rollback import rollback
from tests.integration.conftest import Run, allow, default_policy
from tests.support.world import ACCOUNT, SAMPLE_KEY_ARN, World, load_event

CASE5 = "case5_user_start_instances_create_grant.json"


def raw_policy(world: World, key_arn: str) -> str:
    text: str = world.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    return text


def set_raw_policy(world: World, key_arn: str, text: str) -> None:
    world.client("kms").put_key_policy(KeyId=key_arn, PolicyName="default", Policy=text)


def user_event(key: str) -> dict[str, Any]:
    return load_event(CASE5, {SAMPLE_KEY_ARN: key})


# --- key-policy text: refused when ambiguous, written back exactly -------------------------

ROOT = json.dumps(default_policy(ACCOUNT)["Statement"][0])
DENY_ALL = json.dumps(
    {
        "Sid": "DenyAll",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:*",
        "Resource": "*",
    }
)
MFA = (
    '{"Sid": "AdminsWithMfa", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::'
    + ACCOUNT
    + ':role/admin"}, "Action": "kms:*", "Resource": "*", "Condition": {"NumericLessThan": '
    '{"aws:MultiFactorAuthAge": NUMBER}}}'
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            '{"Version": "2012-10-17", "Statement": ['
            + MFA.replace("NUMBER", "1e400")
            + ", "
            + ROOT
            + "]}",
            "key policy has the number 1E+400, which is infinite as a double",
        ),
        (
            '{"Version": "2012-10-17", "Statement": ['
            + DENY_ALL
            + '], "Statement": ['
            + ROOT
            + "]}",
            "key policy repeats the name 'Statement'",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [' + ROOT + ', {"Sid": "NoAlice", '
            '"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::'
            + ACCOUNT
            + ':user/ops-alice"}, '
            '"Action": "kms:*", "Resource": "*", "Effect": "Allow"}]}',
            "key policy repeats the name 'Effect'",
        ),
    ],
    ids=["1e400", "duplicate-statement-hides-deny-all", "duplicate-effect-deny-then-allow"],
)
def test_ambiguous_key_policy_text_is_refused_and_never_written(
    world: World, run: Run, text: str, reason: str
) -> None:
    # Given a key policy that Python's json reads one way (1e400 as infinity, the last
    # duplicate winning) and KMS possibly another
    key, user = world.key(), world.user()
    set_raw_policy(world, key, text)

    # When the remediator handles a denied launch of an allowlisted user on the key
    [report] = run(user_event(key), allow([user], [key]))

    # Then it refuses, saying why, and the policy text is exactly as it was
    assert report.outcome is Outcome.REFUSED
    assert report.reason.startswith(reason)
    assert "correct the policy by hand" in report.reason
    assert raw_policy(world, key) == text


def test_numbers_in_untouched_statements_are_written_back_exactly(world: World, run: Run) -> None:
    # Given a key policy whose other statements hold numbers a double would round or reformat
    key, user = world.key(), world.user()
    mfa = MFA.replace("NUMBER", '1.10, "aws:EpochTime": 0.1000000000000000000001')
    set_raw_policy(
        world, key, '{"Version": "2012-10-17", "Statement": [' + ROOT + ", " + mfa + "]}"
    )

    # When the remediator adds the user
    [report] = run(user_event(key), allow([user], [key]))

    # Then the text written keeps each number digit for digit, and nothing else changed
    assert report.outcome is Outcome.REMEDIATED
    written = raw_policy(world, key)
    assert '"aws:MultiFactorAuthAge": 1.10,' in written
    assert '"aws:EpochTime": 0.1000000000000000000001' in written
    assert report.undo["previous_policy"]["Statement"][1]["Condition"]["NumericLessThan"] == {
        "aws:MultiFactorAuthAge": Decimal("1.10"),
        "aws:EpochTime": Decimal("0.1000000000000000000001"),
    }


# --- rollback writes the recorded policy with the same renderer ----------------------------


class Recorded(NoState):
    """One recorded key-policy change, as the audit trail returns it."""

    def __init__(self, before: Any, after: Any) -> None:
        self.change = {
            "change_id": "c-1",
            "event_id": "9d08ae7b-de35-4e5f-a32f-270f7298bcd5",
            "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/ops-alice",
            "remedy": "key-policy",
            "at": "2024-05-14T13:16:05Z",
            "before": before,
            "after": after,
        }

    def history(self, key_arn: str) -> list[dict[str, Any]]:
        return [self.change]


def test_rollback_refuses_a_recorded_policy_with_a_non_finite_number(world: World) -> None:
    # Given a recorded change whose prior policy holds infinity (as an audit record written
    # from a policy that Python's json read "1e400" in, and read back by json.loads)
    key = world.key()
    current = world.policy(key)
    before = json.loads(
        '{"Version": "2012-10-17", "Statement": [' + MFA.replace("NUMBER", "Infinity") + "]}"
    )
    state = Recorded(before, current)

    # When it is rolled back, even forced
    result = rollback(AwsAdapter(region=world.region), state, key, None, force=True)

    # Then nothing is written: the key's policy is still valid JSON, as it was
    assert result["outcome"] == "refused"
    assert "has the number Infinity" in result["reason"]
    assert "Infinity" not in raw_policy(world, key)
    assert world.policy(key) == current


@pytest.mark.parametrize(
    ("number", "written"),
    [(Decimal("1.10"), "1.10"), (1.1, "1.1"), (Decimal("0.1000000000000000000001"), None)],
    ids=["decimal", "float-from-json-loads", "long-decimal"],
)
def test_rollback_writes_the_recorded_policy_exactly(
    world: World, number: Any, written: str | None
) -> None:
    # Given a recorded change whose prior policy holds a non-integer number, as the audit
    # trail returns it (Decimal when read exactly; a float when read with json.loads)
    key = world.key()
    current = world.policy(key)
    before = json.loads(
        '{"Version": "2012-10-17", "Statement": [' + MFA.replace("NUMBER", "0") + "]}"
    )
    before["Statement"][0]["Condition"]["NumericLessThan"]["aws:MultiFactorAuthAge"] = number
    state = Recorded(before, current)

    # When it is rolled back
    result = rollback(AwsAdapter(region=world.region), state, key, None, force=False)

    # Then the key holds that number as recorded, and the rollback verified it
    assert result["outcome"] == "rolled_back"
    assert f'"aws:MultiFactorAuthAge": {written or number}' in raw_policy(world, key)


def test_audit_trail_keeps_numbers_exactly_through_change_and_rollback(
    world: World, run: Run
) -> None:
    # Given a state table, and a key policy whose other statement holds the number 1.10
    import boto3

    from remediator.adapters.dynamo import DynamoState, create_table

    create_table(boto3.client("dynamodb", region_name=world.region), "exact")
    state = DynamoState("exact", client=boto3.client("dynamodb", region_name=world.region))
    key, user = world.key(), world.user()
    mfa = MFA.replace("NUMBER", "1.10")
    original = '{"Version": "2012-10-17", "Statement": [' + ROOT + ", " + mfa + "]}"
    set_raw_policy(world, key, original)

    # When the user is added (audited), and the change rolled back from the audit trail
    [report] = run(user_event(key), allow([user], [key]), state=state)
    [change] = state.history(key)
    result = rollback(AwsAdapter(region=world.region), state, key, None, force=False)

    # Then the record holds 1.10 exactly, and the restored policy says 1.10 again
    assert report.outcome is Outcome.REMEDIATED
    number = change["before"]["Statement"][1]["Condition"]["NumericLessThan"]
    assert number == {"aws:MultiFactorAuthAge": Decimal("1.10")}
    assert result["outcome"] == "rolled_back"
    assert '"aws:MultiFactorAuthAge": 1.10' in raw_policy(world, key)
