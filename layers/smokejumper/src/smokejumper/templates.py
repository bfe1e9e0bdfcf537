"""Reading a template `cdk synth` wrote: its resources, and its intrinsic functions resolved.

The offline runner creates the synthesized stack's resources on emulated AWS,
and the build validates the state machines' definitions; both need the
template's values with `Ref`, `Fn::GetAtt`, `Fn::Join` and friends replaced by
what they stand for. This is the small subset of CloudFormation that CDK's
output of this stack uses; anything else is refused by name, so a new
intrinsic is noticed rather than passed through as a dictionary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PSEUDO_DEFAULTS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}


class UnresolvableError(ValueError):
    """A value of the template uses an intrinsic function or a reference this module cannot resolve."""


@dataclass
class Resolver:
    """Resolves a template's values against what was created: `refs` by logical id, `attributes` by (id, name)."""

    account: str
    region: str
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Called for a reference not (yet) known; by default it is an error.
    missing: Callable[[str, str | None], Any] | None = None

    def pseudo(self, name: str) -> Any:
        if name == "AWS::AccountId":
            return self.account
        if name == "AWS::Region":
            return self.region
        if name in PSEUDO_DEFAULTS:
            return PSEUDO_DEFAULTS[name]
        raise UnresolvableError(f"unknown pseudo parameter {name}")

    def ref(self, logical_id: str) -> Any:
        if logical_id.startswith("AWS::"):
            return self.pseudo(logical_id)
        if logical_id in self.refs:
            return self.refs[logical_id]
        if self.missing is not None:
            return self.missing(logical_id, None)
        raise UnresolvableError(f"Ref to {logical_id}, which is not created")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[(logical_id, attribute)]
        if self.missing is not None:
            return self.missing(logical_id, attribute)
        raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}, which is not known")

    def resolve(self, node: Any) -> Any:
        """`node` with every intrinsic function replaced by its value (AWS::NoValue removes the key)."""
        if isinstance(node, list):
            return [value for value in (self.resolve(entry) for entry in node) if value is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(name, argument)] = node.items()
            if name == "Ref":
                value = self.ref(argument)
                return _NO_VALUE if argument == "AWS::NoValue" else value
            if name == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if name == "Fn::Join":
                separator, values = argument
                return separator.join(str(value) for value in self.resolve(values))
            if name == "Fn::Select":
                index, values = self.resolve(argument)
                return values[int(index)]
            if name == "Fn::Split":
                separator, value = self.resolve(argument)
                return value.split(separator)
            if name == "Fn::If":
                raise UnresolvableError("Fn::If: the stack defines no conditions")
            if name.startswith("Fn::") or name == "Condition":
                raise UnresolvableError(f"{name} is not resolved by smokejumper.templates")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}


_NO_VALUE: Any = object()


@dataclass(frozen=True)
class Template:
    """A synthesized template: its resources by logical id."""

    document: Mapping[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> Template:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        return self.document.get("Resources", {})

    def of_type(self, resource_type: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == resource_type:
                yield logical_id, resource


def state_machine_definitions(template: Template, resolver: Resolver) -> dict[str, dict[str, Any]]:
    """Each state machine's definition (Amazon States Language) by logical id, resolved."""
    return {
        logical_id: json.loads(resolver.resolve(resource["Properties"]["DefinitionString"]))
        for logical_id, resource in template.of_type("AWS::StepFunctions::StateMachine")
    }
