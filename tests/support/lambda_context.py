"""The attributes of a Lambda context that powertools reads."""

from tests.support.world import ACCOUNT


class FakeContext:
    function_name = "remediator"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:remediator"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
