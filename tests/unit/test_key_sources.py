"""Where keys come from, decided over a fake port: when the default EBS key counts, how a
resolve:ssm: AMI is resolved, what a CloudTrail mapping says, and which denied calls name the
instance of their volume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from remediator.events import KmsCallDenied, parse_event
from remediator.identify import identify
from remediator.key_sources import Collector, record_devices
from remediator.model import Devices, LaunchSpec
from remediator.ports import AccessDenied, NotFound
from tests.support.world import load_event
from tests.unit.fakes import INSTANCE_ID, RecordingAws

DEFAULT_KEY = "arn:aws:kms:eu-west-1:111122223333:key/0000aaaa-12ab-34cd-56ef-1234567890ab"
SNAPSHOT_KEY = "arn:aws:kms:eu-west-1:111122223333:key/1111bbbb-12ab-34cd-56ef-1234567890ab"


@dataclass
class KeyPort:
    """The reads ``Collector`` makes, answering from its fields and recording each call."""

    by_default: bool = False
    default_key: str = DEFAULT_KEY
    parameters: dict[str, str] = field(default_factory=dict)
    denied: tuple[str, ...] = ()
    calls: list[str] = field(default_factory=list)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.denied:
            raise AccessDenied(name, "AccessDenied", "denied")

    def ebs_encryption_by_default(self) -> bool:
        self._call("ebs_encryption_by_default")
        return self.by_default

    def ebs_default_key(self) -> str:
        self._call("ebs_default_key")
        return self.default_key

    def ssm_parameter(self, name: str) -> str:
        self._call("ssm_parameter")
        if name not in self.parameters:
            raise NotFound("ssm:GetParameter", "ParameterNotFound", name)
        return self.parameters[name]

    def image_keys(self, image_id: str) -> Devices:
        self._call(f"image_keys {image_id}")
        return Devices((SNAPSHOT_KEY,))

    def volume_keys(self, volume_ids: tuple[str, ...]) -> Devices | None:
        self._call("volume_keys")
        return Devices()


def collect(port: KeyPort, devices: Devices, *, volumes: bool = False) -> tuple[Any, list[str]]:
    collector = Collector(port)  # type: ignore[arg-type]
    if volumes:
        collector.volumes(("vol-0a1b2c3d4e5f60001",))
    collector.spec(LaunchSpec(devices))
    return collector.result(), [c for c in port.calls if c != "volume_keys"]


@pytest.mark.parametrize(
    ("devices", "volumes", "by_default", "keys", "calls"),
    [
        (Devices(default_key=True), False, False, (DEFAULT_KEY,), ["ebs_default_key"]),
        (Devices(default_key=True), True, False, (DEFAULT_KEY,), ["ebs_default_key"]),
        (
            Devices(unkeyed=True),
            False,
            True,
            (DEFAULT_KEY,),
            ["ebs_encryption_by_default", "ebs_default_key"],
        ),
        (Devices(unkeyed=True), False, False, (), ["ebs_encryption_by_default"]),
        (Devices(unkeyed=True), True, True, (), []),  # the volumes exist: they say their keys
        (Devices(("k",)), False, True, ("k",), []),
        (Devices(), False, True, (), []),
    ],
    ids=[
        "encrypted-without-key",
        "encrypted-without-key-volumes-read",
        "unencrypted-with-encryption-by-default",
        "unencrypted-without-encryption-by-default",
        "unencrypted-but-volumes-read",
        "every-volume-names-its-key",
        "nothing-said",
    ],
)
def test_key_sources_default_ebs_key_counts_only_where_a_volume_uses_it(
    devices: Devices, volumes: bool, by_default: bool, keys: tuple[str, ...], calls: list[str]
) -> None:
    port = KeyPort(by_default=by_default)
    result, made = collect(port, devices, volumes=volumes)
    assert (result.keys, result.problems, made) == (keys, (), calls)


@pytest.mark.parametrize(
    "default", ["alias/aws/ebs", "arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs"]
)
def test_key_sources_aws_managed_default_key_is_never_a_key(default: str) -> None:
    result, _ = collect(KeyPort(default_key=default), Devices(default_key=True))
    assert result.keys == ()


def test_key_sources_denied_default_key_is_a_problem_only_where_it_is_used() -> None:
    denied = ("ebs_default_key", "ebs_encryption_by_default")
    needed, _ = collect(KeyPort(denied=denied), Devices(default_key=True))
    maybe, _ = collect(KeyPort(denied=denied), Devices(unkeyed=True))
    assert needed.keys == maybe.keys == ()
    assert needed.problems == (
        "a volume is encrypted with the account's default EBS key, which cannot be read "
        "(AccessDenied): ec2:GetEbsDefaultKmsKeyId is denied",
    )
    assert maybe.problems == ()


@pytest.mark.parametrize(
    ("image", "parameters", "keys", "problem"),
    [
        ("ami-0abcdef1234567890", {}, (SNAPSHOT_KEY,), None),
        (
            "resolve:ssm:/golden/ami",
            {"/golden/ami": "ami-0abcdef1234567890"},
            (SNAPSHOT_KEY,),
            None,
        ),
        (
            "resolve:ssm:/golden/ami:3",
            {"/golden/ami:3": "ami-0abcdef1234567890"},
            (SNAPSHOT_KEY,),
            None,
        ),
        (
            "resolve:ssm:/golden/ami",
            {"/golden/ami": "hello"},
            (),
            "SSM parameter '/golden/ami' holds 'hello', not an AMI id",
        ),
        (
            "resolve:ssm:/golden/ami",
            {},
            (),
            "the AMI is given as 'resolve:ssm:/golden/ami' and SSM parameter '/golden/ami' cannot "
            "be read (ParameterNotFound): the keys of its snapshots are unknown",
        ),
    ],
    ids=["ami-id", "parameter", "parameter-version", "not-an-ami", "missing"],
)
def test_key_sources_image_resolves_ssm_parameters(
    image: str, parameters: dict[str, str], keys: tuple[str, ...], problem: str | None
) -> None:
    port = KeyPort(parameters=parameters)
    collector = Collector(port)  # type: ignore[arg-type]
    collector.image(image)
    result = collector.result()
    assert result.keys == keys
    assert result.problems == ((problem,) if problem else ())
    assert [c for c in port.calls if c.startswith("image_keys")] == (
        ["image_keys ami-0abcdef1234567890"] if keys else []
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"blockDeviceMapping": {"items": [{"ebs": {"encrypted": True, "kmsKeyId": "k"}}]}},
            Devices(("k",)),
        ),
        (
            {"blockDeviceMapping": {"items": [{"ebs": {"encrypted": True}}]}},
            Devices(default_key=True),
        ),
        ({"blockDeviceMapping": {"items": [{"ebs": {"encrypted": False}}]}}, Devices(unkeyed=True)),
        ({"blockDeviceMapping": {"items": [{"ebs": {"volumeSize": 8}}]}}, Devices()),
        ({"launchSpecification": {"kmsKeyId": "j"}}, Devices(("j",))),
        (None, Devices()),
    ],
    ids=["named-key", "encrypted-without-key", "unencrypted", "silent", "stray-key", "none"],
)
def test_key_sources_record_devices(params: object, expected: Devices) -> None:
    assert record_devices(params) == expected


KARPENTER = "karpenter_controller_role_generate_data_key_without_plaintext.json"


def _without_context(event: dict[str, Any]) -> None:
    del event["detail"]["requestParameters"]["encryptionContext"]


def _snapshot_context(event: dict[str, Any]) -> None:
    # CopySnapshot's calls name the snapshot: no volume, so no instance
    event["detail"]["requestParameters"]["encryptionContext"]["aws:ebs:id"] = (
        "snap-0a1b2c3d4e5f60015"
    )


@pytest.mark.parametrize(
    ("fixture", "edit", "volume", "looked_up"),
    [
        (KARPENTER, None, "vol-0a1b2c3d4e5f60011", True),
        ("user_run_instances_decrypt.json", None, "vol-0a1b2c3d4e5f60014", True),
        (
            "eks_node_group_asg_slr_generate_data_key_without_plaintext.json",
            None,
            "vol-0a1b2c3d4e5f60012",
            True,
        ),
        ("copied_ami_user_reencrypt.json", None, "vol-0a1b2c3d4e5f60015", True),  # destination
        ("spot_slr_create_grant.json", None, "vol-0a1b2c3d4e5f60016", False),  # grantee names it
        (KARPENTER, _without_context, None, False),
        (KARPENTER, _snapshot_context, None, False),
    ],
    ids=["karpenter", "decrypt", "eks", "reencrypt", "create-grant", "no-context", "snapshot"],
)
def test_key_sources_denied_call_names_the_instance_of_its_volume(
    fixture: str, edit: Any, volume: str | None, looked_up: bool
) -> None:
    # Given a denied KMS call; EBS's calls carry the volume in their encryption context
    event = load_event(fixture)
    if edit:
        edit(event)
    trigger = parse_event(event)
    assert isinstance(trigger, KmsCallDenied)
    aws = RecordingAws()
    # When it is identified
    [target] = identify(trigger, aws).targets
    # Then the volume is read only when the call names no instance
    assert trigger.volume_id == volume
    assert (("volume_instance", (volume,)) in aws.calls) is looked_up
    assert target.instance_id == (INSTANCE_ID if looked_up or trigger.instance_id else None)
