"""CDK app for the KMS launch remediator: one stack per account and region.

The stack composes one construct per capability (detection, remediator, notifications,
state, monitoring, trail); ``infra.application.create_app`` builds the app that ``app.py``
synthesises and that ``tests/infra`` inspect.
"""
