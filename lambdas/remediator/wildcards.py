"""IAM's own wildcard matching, as policy evaluation applies it (not the allowlist's globs).

IAM user guide, "IAM JSON policy elements: Condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

- ``StringLike``: case-sensitive; ``*`` matches any run of characters and ``?`` any one
  character, anywhere in the string, so ``*`` crosses ``/`` and ``:`` alike.
- ``ArnLike``: case-sensitive; "each of the six colon-delimited components of the ARN is checked
  separately and each can include multi-character match wildcards (*) or single-character match
  wildcards (?)". A wildcard never spans components, so a pattern must spell all six (partition,
  service, region, account and resource may each be ``*``). Within the resource component ``*``
  crosses ``/``.
- Actions (``Action``/``NotAction``): case-insensitive, ``*`` and ``?``
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
- ``Resource``: ``*`` alone matches every resource; otherwise matched as an ARN, component by
  component (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).

There are no character classes: ``[`` and ``]`` stand for themselves (``fnmatch`` would read them
as a class, and its ``*`` crosses ``:``).
"""

from __future__ import annotations

ARN_COMPONENTS = 6


def string_like(pattern: str, text: str) -> bool:
    """The whole of ``text`` matches ``pattern``; ``*`` crosses every character."""
    p = t = 0
    star = resume = -1
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif star >= 0:
            # Let the last "*" take one more character and try again from there.
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: the six components matched one by one; a pattern with fewer never matches."""
    wanted = pattern.split(":", ARN_COMPONENTS - 1)
    parts = arn.split(":", ARN_COMPONENTS - 1)
    if len(wanted) != ARN_COMPONENTS or len(parts) != ARN_COMPONENTS:
        return False
    return all(string_like(w, p) for w, p in zip(wanted, parts, strict=True))


def action_like(pattern: str, action: str) -> bool:
    """An Action or NotAction entry against an action name, ignoring case."""
    return string_like(pattern.lower(), action.lower())


def resource_like(pattern: str, resource_arn: str) -> bool:
    """A Resource or NotResource entry against the ARN of the resource the call is on."""
    return pattern == "*" or arn_like(pattern, resource_arn)
