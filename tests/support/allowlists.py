"""Allowlists that admit every role, user and key the test worlds create in given accounts.

An allowlist entry names role/ or user/ (or key/) in one account, and its globs never cross
"/", so "every principal of an account" is one entry per resource type and path depth the
tests use.
"""

from __future__ import annotations


def every_principal_of(*accounts: str) -> list[str]:
    """Roles and users at path "/", and the service-linked roles, of each account."""
    return [
        f"arn:aws:iam::{account}:{resource}"
        for account in accounts
        for resource in ("role/*", "user/*", "role/aws-service-role/*/*")
    ]


def every_key_of(*accounts: str) -> list[str]:
    """Every key of each account, in any region."""
    return [f"arn:aws:kms:*:{account}:key/*" for account in accounts]
