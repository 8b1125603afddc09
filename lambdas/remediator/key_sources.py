"""Where a launch's KMS keys come from: the instance's volumes, its launch template (or the
group's templates, with their mixed-instances overrides, or its launch configuration), a
fleet's launch specifications, the AMI's snapshots (an AMI may be named by an SSM parameter),
the CloudTrail record of the launch, and the account's default EBS key.

A source that cannot be read is not guessed at: it is kept as a problem, in words, which
``identify`` reports as a refusal with that reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from remediator.model import Devices, LaunchSpec
from remediator.ports import AccessDenied, AwsPort, NotFound, Rejected

logger = logging.getLogger(__name__)

# An AMI given as a Systems Manager parameter, resolved at launch: resolve:ssm:NAME, with an
# optional :VERSION or :LABEL, or a parameter ARN shared from another account (EC2 user guide,
# "Use a Systems Manager parameter instead of an AMI ID"). GetParameter takes the same
# "name:version" and "name:label" selectors in its Name (SSM API reference, GetParameter).
RESOLVE_SSM_PREFIX = "resolve:ssm:"
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}\Z")
# The AWS-managed EBS key: GetEbsDefaultKmsKeyId names it by alias until the account sets its
# own default key. AWS-managed keys allow every principal of the account through EC2, so it
# cannot be why a launch failed.
AWS_MANAGED_EBS_ALIAS = "alias/aws/ebs"


@dataclass(frozen=True)
class KeySources:
    keys: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # sources that could not be read, and why
    spot: bool = False  # a launch template or specification asks for Spot capacity


class Collector:
    """Reads the key sources of one launch, in any order, and keeps what it found."""

    def __init__(self, aws: AwsPort) -> None:
        self.aws = aws
        self.devices = Devices()
        self.problems: list[str] = []
        self.spot = False
        self.volumes_read = False  # the instance's volumes exist: they are what was created
        self._images: set[str] = set()

    def volumes(self, volume_ids: tuple[str, ...]) -> None:
        found = self.aws.volume_keys(volume_ids) if volume_ids else None
        if found is not None:
            self.volumes_read = True
            self.devices += found

    def template(self, template: Mapping[str, str], *, image: bool = True) -> None:
        name = template.get("LaunchTemplateId") or template.get("LaunchTemplateName")
        version = template.get("Version") or "$Default"
        try:
            spec = self.aws.launch_template(dict(template))
        except (AccessDenied, NotFound) as err:
            self.problems.append(
                f"launch template {name} version {version} cannot be read "
                f"({err.code or type(err).__name__}): the keys it names are unknown"
            )
            return
        self.spec(spec, image=image)

    def configuration(self, name: str) -> None:
        try:
            spec = self.aws.launch_configuration(name)
        except (AccessDenied, NotFound) as err:
            self.problems.append(
                f"launch configuration {name!r} cannot be read "
                f"({err.code or type(err).__name__}): its AMI's keys are unknown"
            )
            return
        self.spec(spec)

    def spec(self, spec: LaunchSpec, *, image: bool = True) -> None:
        self.devices += spec.devices
        self.spot = self.spot or spec.spot
        if image and spec.image_id:
            self.image(spec.image_id)

    def image(self, image_id: str) -> None:
        resolved = self._resolve(image_id)
        if resolved and resolved not in self._images:
            self._images.add(resolved)
            self.devices += self.aws.image_keys(resolved)

    def record(self, params: object) -> None:
        """The block device mappings of a CloudTrail launch record (RunInstances writes them as
        ``blockDeviceMapping.items[].ebs`` with ``kmsKeyId`` and ``encrypted``)."""
        self.devices += record_devices(params)

    def result(self) -> KeySources:
        keys = list(self.devices.keys)
        default = self._default_key()
        if default and default not in keys:
            keys.append(default)
        return KeySources(tuple(keys), tuple(dict.fromkeys(self.problems)), self.spot)

    def _resolve(self, image_id: str) -> str | None:
        if not image_id.startswith(RESOLVE_SSM_PREFIX):
            return image_id
        name = image_id.removeprefix(RESOLVE_SSM_PREFIX)
        try:
            value = self.aws.ssm_parameter(name)
        except (AccessDenied, NotFound, Rejected) as err:
            self.problems.append(
                f"the AMI is given as {image_id!r} and SSM parameter {name!r} cannot be read "
                f"({err.code or type(err).__name__}): the keys of its snapshots are unknown"
            )
            return None
        if not _AMI_ID.match(value):
            self.problems.append(f"SSM parameter {name!r} holds {value[:80]!r}, not an AMI id")
            return None
        return value

    def _default_key(self) -> str | None:
        """The account's default EBS key, where a volume of this launch uses it: one encrypted
        without a key id, or, with encryption by default on, one that would be unencrypted
        (EC2 user guide, "Encryption by default"). Volumes that exist already say their key."""
        needed = self.devices.default_key
        if not needed and not (self.devices.unkeyed and not self.volumes_read):
            return None
        try:
            if not needed and not self.aws.ebs_encryption_by_default():
                return None
            key = self.aws.ebs_default_key()
        except AccessDenied as err:
            if needed:
                self.problems.append(
                    f"a volume is encrypted with the account's default EBS key, which cannot "
                    f"be read ({err.code}): ec2:GetEbsDefaultKmsKeyId is denied"
                )
            else:
                logger.warning("ebs_encryption_defaults_unreadable", extra={"code": err.code})
            return None
        return None if is_aws_managed_ebs_key(key) else key


def is_aws_managed_ebs_key(reference: str) -> bool:
    return reference == AWS_MANAGED_EBS_ALIAS or reference.endswith(f":{AWS_MANAGED_EBS_ALIAS}")


def record_devices(value: object, depth: int = 0) -> Devices:
    """Every ``ebs`` mapping of a CloudTrail request, and any other ``kmsKeyId`` in it."""
    if depth > 8:
        return Devices()
    found = Devices()
    if isinstance(value, Mapping):
        key = value.get("kmsKeyId")
        if isinstance(key, str):
            found += Devices((key,))
        ebs = value.get("ebs")
        if isinstance(ebs, Mapping) and not isinstance(ebs.get("kmsKeyId"), str):
            encrypted = ebs.get("encrypted")
            found += Devices(default_key=encrypted is True, unkeyed=encrypted is False)
        for item in value.values():
            found += record_devices(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            found += record_devices(item, depth + 1)
    return found
