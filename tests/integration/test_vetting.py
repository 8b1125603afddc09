"""Vetting a new key policy before PutKeyPolicy: Access Analyzer where it answers (stubbed
here, since moto has no Access Analyzer), the local checks always."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.pipeline import Remediator
from remediator.policy import ADMIN_ACTIONS, admin_actions_granted
from tests.integration.conftest import allow
from tests.support.world import SAMPLE_KEY_ARN, World, load_event

CASE5 = "case5_user_start_instances_create_grant.json"


def run_with_analyzer(world: World, stub_setup: Any) -> tuple[Any, str, dict[str, Any]]:
    key, user = world.key(), world.user()
    before = world.policy(key)
    analyzer = boto3.client("accessanalyzer", region_name="eu-west-1")
    stub = Stubber(analyzer)
    stub_setup(stub)
    engine = Remediator(
        AwsAdapter(region="eu-west-1", clients={"accessanalyzer": analyzer}),
        parse_config(allow([user], [key])),
    )
    with stub:
        [report] = engine.handle(load_event(CASE5, {SAMPLE_KEY_ARN: key}))
    stub.assert_no_pending_responses()
    return report, key, before


def validate_ok(stub: Stubber, findings: list[dict[str, Any]] | None = None) -> None:
    stub.add_response(
        "validate_policy",
        {"findings": findings or []},
        {"policyDocument": ANY, "policyType": "RESOURCE_POLICY"},
    )


def test_vetting_refuses_on_validate_policy_error(world: World) -> None:
    finding = {
        "findingDetails": "Invalid principal",
        "findingType": "ERROR",
        "issueCode": "INVALID_ARN_ACCOUNT",
        "learnMoreLink": "https://example.com/doc",
        "locations": [],
    }
    report, key, before = run_with_analyzer(world, lambda stub: validate_ok(stub, [finding]))
    assert report.outcome == "refused"
    assert "INVALID_ARN_ACCOUNT: Invalid principal" in report.reason
    assert report.suggested_fix
    assert world.policy(key) == before


def test_vetting_refuses_when_admin_access_is_granted(world: World) -> None:
    def setup(stub: Stubber) -> None:
        validate_ok(stub)
        stub.add_response(
            "check_access_not_granted",
            {"result": "FAIL", "message": "grants kms:PutKeyPolicy", "reasons": []},
        )

    report, key, before = run_with_analyzer(world, setup)
    assert report.outcome == "refused"
    assert "grants kms:PutKeyPolicy" in report.reason
    assert world.policy(key) == before


def test_vetting_passes_and_checks_only_the_added_statements(world: World) -> None:
    checked: dict[str, Any] = {}

    def setup(stub: Stubber) -> None:
        validate_ok(stub)
        stub.add_response(
            "check_access_not_granted",
            {"result": "PASS", "message": "", "reasons": []},
            {
                "policyDocument": ANY,
                "access": [{"actions": list(ADMIN_ACTIONS)}],
                "policyType": "RESOURCE_POLICY",
            },
        )
        stub.client.meta.events.register(
            "before-parameter-build.accessanalyzer.CheckAccessNotGranted",
            lambda params, **_: checked.update(json.loads(params["policyDocument"])),
        )

    report, key, _ = run_with_analyzer(world, setup)
    assert report.outcome == "remediated", report.reason
    # The check is on what the tool adds (the root statement would grant kms:* by design)
    assert [s["Sid"] for s in checked["Statement"]] == [
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert len(world.policy(key)["Statement"]) == 3


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_vetting_unavailable_falls_back_to_local_checks_with_warning(world: World) -> None:
    # Given the emulator, which has no Access Analyzer (it answers 404)
    collect = Collect()
    module_logger = logging.getLogger("remediator.adapters.aws")
    module_logger.addHandler(collect)
    key, user = world.key(), world.user()
    engine = Remediator(AwsAdapter(region="eu-west-1"), parse_config(allow([user], [key])))

    # When a policy change is made
    try:
        [report] = engine.handle(load_event(CASE5, {SAMPLE_KEY_ARN: key}))
    finally:
        module_logger.removeHandler(collect)

    # Then it goes ahead on the local checks, and says so once: the adapter stops asking for a
    # while instead of paying for an unavailable API on every check
    assert report.outcome == "remediated"
    assert collect.messages == ["access_analyzer_unavailable"]


@pytest.mark.parametrize(
    ("statement", "granted"),
    [
        ({"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"]}, []),
        ({"Effect": "Allow", "Action": "kms:*"}, list(ADMIN_ACTIONS)),
        ({"Effect": "Allow", "Action": "kms:Put*"}, ["kms:PutKeyPolicy"]),
        ({"Effect": "Allow", "NotAction": "kms:Decrypt"}, list(ADMIN_ACTIONS)),
        ({"Effect": "Deny", "Action": "kms:*"}, []),
    ],
)
def test_local_check_finds_admin_actions(statement: dict[str, Any], granted: list[str]) -> None:
    assert admin_actions_granted([statement]) == granted
