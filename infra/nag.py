"""cdk-nag: the AwsSolutions checks, and acknowledging a finding with its reason.

cdk-nag 3.x is a CDK policy-validation plugin, not an Aspect as in 2.x, and its
`NagSuppressions` is gone: a finding is acknowledged with CDK's own
`Validations.of(construct).acknowledge(...)`. Any finding left unacknowledged
stops `cdk synth` and is written to cdk.out/validation-report.json.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stage, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_nag_checks(app: Stage) -> None:
    """Make synthesis fail on any AwsSolutions finding that is not acknowledged."""
    # Writing acknowledgments into the template keeps each reason next to the
    # resource it excuses, for anyone reviewing the deployed stack.
    checks = AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    Validations.of(app).add_plugins(checks)


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one AwsSolutions finding on `construct` (and its children), saying why."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
