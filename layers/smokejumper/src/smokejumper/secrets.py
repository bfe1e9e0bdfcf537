"""Credentials at run time: the plan names Secrets Manager ARNs, and these read them.

Two sources behind one interface, so that the same plan file drives Lambda,
CI and a laptop:

- `SecretsManagerSecrets`: the real thing, with the caller's AWS credentials
  (a Lambda's role). Each secret is read once per instance: a handler makes
  one per invocation, so a rotated password is picked up by the next one.
- `FileSecrets`: a JSON file mapping each ARN to the secret's value (a JSON
  object, or a string such as a PEM bundle), for runs outside AWS
  (`backup run --secrets FILE`, `SMOKEJUMPER_SECRETS`).

Secret values never appear in messages, reprs or logs: errors name the ARN
and what is wrong with its shape, never its content.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from smokejumper.errors import UsageError

SECRETS_VARIABLE = "SMOKEJUMPER_SECRETS"  # a variable name, not a secret


class Secrets(Protocol):
    """Where the plan's secrets are read from."""

    def text(self, arn: str) -> str:
        """The secret's value as text (its SecretString)."""
        ...

    def json(self, arn: str) -> dict[str, Any]:
        """The secret's value parsed as a JSON object."""
        ...


def _parse_object(arn: str, value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise UsageError(f"the secret {arn} is not JSON", hint="store the secret as a JSON object") from None
    if not isinstance(parsed, dict):
        raise UsageError(f"the secret {arn} is not a JSON object", hint="store the secret as a JSON object")
    return parsed


class SecretsManagerSecrets:
    """AWS Secrets Manager, with a cache for this object's life (one Lambda invocation)."""

    def __init__(self, *, client: Any = None) -> None:
        self._client = client
        self._clients: dict[str | None, Any] = {}
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"SecretsManagerSecrets({len(self._cache)} read)"

    def _client_for(self, arn: str) -> Any:
        if self._client is not None:
            return self._client
        # An ARN names its region: use it, so that no AWS_REGION is needed to reach it.
        parts = arn.split(":")
        region = parts[3] if arn.startswith("arn:") and len(parts) > 3 and parts[3] else None
        if region not in self._clients:
            import boto3  # deferred: commands that read no secret never pay for it

            self._clients[region] = boto3.client("secretsmanager", region_name=region)
        return self._clients[region]

    def text(self, arn: str) -> str:
        if arn not in self._cache:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                response = self._client_for(arn).get_secret_value(SecretId=arn)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "error")
                raise UsageError(
                    f"cannot read the secret {arn}: {code}",
                    hint="check the ARN, and that the role may secretsmanager:GetSecretValue it "
                    "(and kms:Decrypt its key)",
                ) from None
            except BotoCoreError as exc:
                raise UsageError(f"cannot read the secret {arn}: {type(exc).__name__}") from None
            if "SecretString" not in response:
                raise UsageError(f"the secret {arn} holds binary data, not text", hint="store it as a string")
            self._cache[arn] = response["SecretString"]
        return self._cache[arn]

    def json(self, arn: str) -> dict[str, Any]:
        return _parse_object(arn, self.text(arn))


class FileSecrets:
    """Secrets from a JSON file: `{"arn:aws:secretsmanager:...": {"username": ..., "password": ...}, ...}`."""

    def __init__(self, values: Mapping[str, Any], *, source: str = "the secrets file") -> None:
        self._values = dict(values)
        self._source = source

    def __repr__(self) -> str:
        return f"FileSecrets({self._source!r}, {len(self._values)} secrets)"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FileSecrets:
        where = os.fspath(path)
        hint = 'the file is a JSON object from secret ARN to the secret\'s value, e.g. {"arn:...": {"username": ...}}'
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"secrets file {where} does not exist", hint=hint) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"secrets file {where} cannot be read: {type(exc).__name__}", hint=hint) from None
        except ValueError as exc:
            # The position only: the message of a JSON error can quote the file's text.
            line = getattr(exc, "lineno", None)
            raise UsageError(f"secrets file {where} is not valid JSON (line {line})", hint=hint) from None
        if not isinstance(data, dict):
            raise UsageError(f"secrets file {where} is not a JSON object", hint=hint)
        return cls(data, source=where)

    def text(self, arn: str) -> str:
        if arn not in self._values:
            raise UsageError(
                f"the secret {arn} is not in {self._source}",
                hint="add it, with the value the secret holds in Secrets Manager",
            )
        value = self._values[arn]
        return value if isinstance(value, str) else json.dumps(value)

    def json(self, arn: str) -> dict[str, Any]:
        value = self._values.get(arn)
        if isinstance(value, dict):
            return value
        return _parse_object(arn, self.text(arn))


def secrets_for(path: str | os.PathLike[str] | None) -> Secrets:
    """The secrets file if one is given (or named by $SMOKEJUMPER_SECRETS), else Secrets Manager."""
    path = path or os.environ.get(SECRETS_VARIABLE)
    return FileSecrets.load(path) if path else SecretsManagerSecrets()
