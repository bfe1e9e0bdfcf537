"""The synthesized templates pass cfn-lint, informational checks included.

Ignored, and why:
  I1022  "prefer Fn::Sub over Fn::Join": a style hint about how CDK itself
         writes ARNs; nothing in our code produces those joins.
  W3005  "dependency already enforced by a GetAtt": CDK makes each function
         DependsOn its role as well as its role's policy (which the GetAtt
         does not imply, and which must exist before the first invocation);
         the role's entry is redundant, and harmless.
(cfn-lint cannot see inside the Fn::Join that CDK makes of a Step Functions
definition: test_asl.py extracts it and runs asl-validator on it.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
IGNORED_RULES = ["I1022", "W3005"]


def test_templates_pass_cfn_lint(synthesized):
    templates = sorted(synthesized.outdir.glob("*.template.json"))
    assert len(templates) == 2

    result = subprocess.run(
        [
            CFN_LINT,
            "--regions",
            "eu-west-1",
            "--include-checks",
            "I",
            "--ignore-checks",
            *IGNORED_RULES,
            "--format",
            "parseable",
            "--",
            *templates,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    assert result.returncode == 0, result.stdout + result.stderr
