"""The only modules that import boto3 or botocore. They implement ``remediator.ports`` and
translate botocore's errors into the domain errors defined there."""
