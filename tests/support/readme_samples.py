"""The README's samples, generated and never written by hand: a notification (the email text
and the JSON the other subscribers get), the output of a dry run and of ``diagnose``. The real
pipeline and CLI produce them on moto; moto's random ids are then replaced by the sample ids of
``tests/events`` so that a sample reads the same on every run.

    PYTHONPATH=lambdas python -m tests.support.readme_samples           # rewrite README.md's
    PYTHONPATH=lambdas python -m tests.support.readme_samples --check   # exit 1 if out of date

``tests/integration/test_readme_samples.py`` fails when the README's samples are out of date.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TABLE = "kms-launch-remediator-state"
CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE5 = "case5_user_start_instances_create_grant.json"
SAMPLE_CHANGE_ID = "1715677951-3f9c2a1b"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "MOTO_ACCOUNT_ID": "111122223333",
    "POWERTOOLS_TRACE_DISABLED": "1",
}
# (name, the fence's language) in the order the README shows them
SAMPLES = (
    ("notification-email", "text"),
    ("notification-json", "json"),
    ("dry-run", "json"),
    ("diagnose", "text"),
)
_BLOCK = re.compile(
    r"<!-- sample: (?P<name>[a-z-]+) [^>]*-->\n```[a-z]*\n(?P<body>.*?)```\n<!-- /sample -->",
    re.DOTALL,
)
# ids moto makes up, replaced by sample ids in the order they first appear
_GENERATED = {
    "ami": re.compile(r"\bami-[0-9a-f]{8,17}\b"),
    "lt": re.compile(r"\blt-[0-9a-f]{8,17}\b"),
    "vol": re.compile(r"\bvol-[0-9a-f]{8,17}\b"),
}


@contextlib.contextmanager
def _fake_aws() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*FAKE_ENV, "AWS_ENDPOINT_URL")}
    os.environ.update(FAKE_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        from moto import mock_aws

        from tests.support import moto_cross_account

        moto_cross_account.install()
        with mock_aws():
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _cli(argv: list[str]) -> str:
    from remediator import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    if code != 0:
        raise RuntimeError(f"{argv[0]} exited {code}")
    return out.getvalue()


def _normalized(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    for prefix, pattern in _GENERATED.items():
        seen: dict[str, str] = {}
        for found in pattern.findall(text):
            seen.setdefault(found, f"{prefix}-{len(seen) + 1:017x}")
        for old, new in seen.items():
            text = text.replace(old, new)
    return text


def generate() -> dict[str, str]:
    """name -> the sample's text, generated now."""
    import logging

    adapter_log = logging.getLogger("remediator.adapters.aws")
    previous = adapter_log.level
    adapter_log.setLevel(logging.ERROR)  # moto has no Access Analyzer: known, and not a sample
    try:
        with _fake_aws(), tempfile.TemporaryDirectory() as workdir:
            return _generate(Path(workdir))
    finally:
        adapter_log.setLevel(previous)


def _generate(workdir: Path) -> dict[str, str]:
    import boto3
    from moto.sns.models import sns_backends

    from remediator.adapters.aws import AwsAdapter
    from remediator.adapters.dynamo import DynamoState, create_table
    from remediator.adapters.incidents import DynamoIncidents
    from remediator.config import parse_config
    from remediator.pipeline import Remediator
    from tests.support import world as w

    world = w.World()
    slr, user = world.autoscaling_slr(), world.user()
    key, group_key = world.key(), world.key()
    world.autoscaling_group(world.launch_template(group_key), w.SAMPLE_GROUP)
    instance = world.failed_instance(key, stopped=True)
    topic, _ = world.notifications_topic()
    dynamodb = boto3.client("dynamodb")
    create_table(dynamodb, TABLE)
    allowed = {"mode": "enforce", "allow": {"principals": [user, slr], "keys": [key, group_key]}}

    # A notification: case 5 fixed, with the state table (so its undo has the rollback)
    event = w.load_event(CASE5, {w.SAMPLE_KEY_ARN: key, w.SAMPLE_INSTANCE_ID: instance})
    [report] = Remediator(
        AwsAdapter(region=world.region),
        parse_config(allowed),
        topic_arn=topic,
        state=DynamoState(TABLE, client=dynamodb),
        incidents=DynamoIncidents(TABLE, dynamodb),
        state_table_name=TABLE,
    ).handle(event)
    [(_, published, *_)] = sns_backends[w.ACCOUNT][world.region].topics[topic].sent_notifications
    structure = json.loads(published)

    # A dry run (case 1), and a diagnosis of the group, with the configuration allowing both
    config = workdir / "config.json"
    config.write_text(json.dumps(allowed))
    case1 = workdir / "case1.json"
    case1.write_text(json.dumps(w.load_event(CASE1, {w.SAMPLE_KEY_ARN: group_key})))
    dry_run = _cli(["replay", str(case1), "--config", str(config), "--dry-run"])
    diagnosis = _cli(["diagnose", "--asg", w.SAMPLE_GROUP, "--config", str(config)])

    other_sample = w.SAMPLE_KEY_ARN.replace("1234abcd-12ab-34cd-56ef", "5678efab-56ef-78ab-90cd")
    replacements = {
        instance: w.SAMPLE_INSTANCE_ID,
        report.change_id or "?": SAMPLE_CHANGE_ID,
    }
    for made, sample in ((key, w.SAMPLE_KEY_ARN), (group_key, other_sample)):
        replacements[made.rsplit("/", 1)[-1]] = sample.rsplit("/", 1)[-1]  # ARNs and bare ids
    samples = {
        "notification-email": structure["email"],
        "notification-json": json.dumps(json.loads(structure["default"]), indent=2, sort_keys=True)
        + "\n",
        "dry-run": dry_run,
        "diagnose": diagnosis,
    }
    return {name: _normalized(text, replacements) for name, text in samples.items()}


def blocks(readme: str) -> dict[str, str]:
    """name -> the sample's text as the README shows it."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(readme)}


def rewrite(readme: str, samples: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        language = dict(SAMPLES)[name]
        return (
            f"<!-- sample: {name} (generated by tests/support/readme_samples.py) -->\n"
            f"```{language}\n{samples[name]}```\n<!-- /sample -->"
        )

    return _BLOCK.sub(replace, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.readme_samples")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args(argv)
    samples = generate()
    readme = README.read_text()
    if args.check:
        stale = sorted(n for n, text in samples.items() if blocks(readme).get(n) != text)
        print(f"out of date: {', '.join(stale)}" if stale else "README samples are up to date")
        return 1 if stale else 0
    README.write_text(rewrite(readme, samples))
    print(f"README.md: {len(samples)} samples written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
