"""The stack as a whole: the Outputs an operator reads after a deploy."""

from __future__ import annotations

import pytest

from tests.infra.conftest import Synthesized, synth


@pytest.fixture(scope="module")
def deployed() -> Synthesized:
    return synth()


def test_stack_outputs_name_what_an_operator_needs(deployed: Synthesized) -> None:
    # Given the stack's function, table, topic, queue and role
    stack = deployed.stack
    remediator = stack.remediator
    # When reading the template's Outputs
    outputs = deployed.json["Outputs"]
    # Then each has a stable id, a description, and the value of that resource
    assert {output_id: output["Value"] for output_id, output in outputs.items()} == {
        "FunctionName": deployed.resolve(remediator.function.function_name),
        "StateTableName": deployed.resolve(stack.state.table.table_name),
        "TopicArn": deployed.resolve(stack.notifications.topic.topic_arn),
        "DeadLetterQueueUrl": deployed.resolve(remediator.dlq.queue_url),
        "RemediatorRoleArn": deployed.resolve(remediator.role.role_arn),
    }
    assert all(len(output["Description"]) >= 30 for output in outputs.values())
    assert "--state-table" in outputs["StateTableName"]["Description"]
