"""Resolve CloudFormation intrinsic functions to the values a local run uses.

The rules follow `sam local invoke`: a ``Ref`` to a parameter takes the
override or the parameter's ``Default``, pseudo parameters get fixed local
values, a ``Ref`` to a resource gives its logical id, and conditions are
evaluated. Values only a deployed stack has (resource attributes, exported
values) become placeholder strings that name the expression, so a handler
that reads one fails with a message pointing back to the template.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import TemplateError

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "local"
PLACEHOLDER_PREFIX = "<unresolved "

# Matches ${Name}, ${Resource.Attribute} and the escaped literal ${!Text} in Fn::Sub.
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LIST_PARAMETER_TYPES = ("CommaDelimitedList", "List<")


class _NoValue:
    """Marker for ``Ref: AWS::NoValue``, which removes the enclosing key or list item."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def default_region() -> str:
    """Return the region a local run reports: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def placeholder(expression: str) -> str:
    """Return the placeholder string for ``expression``, a value only a deployed stack can resolve."""
    return f"{PLACEHOLDER_PREFIX}{expression}>"


def is_intrinsic(value: Any) -> bool:
    """Return True if ``value`` is a one-key mapping such as ``{"Ref": ...}`` or ``{"Fn::If": ...}``."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


class IntrinsicResolver:
    """Evaluate the intrinsic functions of one template with fixed parameter values.

    ``parameter_overrides`` maps parameter names to values and wins over each
    parameter's ``Default``, like ``sam local invoke --parameter-overrides``.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameter_overrides: Mapping[str, Any] | None = None,
        region: str | None = None,
    ) -> None:
        self._parameters: Mapping[str, Any] = template.get("Parameters") or {}
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._mappings: Mapping[str, Any] = template.get("Mappings") or {}
        self._overrides = dict(parameter_overrides or {})
        self.region = region or default_region()
        self._pseudo_parameters: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        self._condition_values: dict[str, bool] = {}
        self._conditions_in_progress: set[str] = set()

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every intrinsic function replaced by its local value.

        Keys and list items whose value is ``AWS::NoValue`` are dropped, and a
        top-level ``AWS::NoValue`` becomes None. Raises ``TemplateError`` when
        an intrinsic function is malformed or names an undefined condition.
        """
        resolved = self._resolve(value)
        return None if resolved is NO_VALUE else resolved

    def condition(self, name: str) -> bool:
        """Return the value of the template condition ``name``. Raises ``TemplateError`` if it is not defined."""
        if name in self._condition_values:
            return self._condition_values[name]
        if not isinstance(name, str) or name not in self._conditions:
            known = ", ".join(sorted(self._conditions)) or "none"
            raise TemplateError(f"condition {name!r} is not defined under Conditions (defined: {known})")
        if name in self._conditions_in_progress:
            raise TemplateError(f"condition {name!r} refers to itself through Condition; break the cycle")

        self._conditions_in_progress.add(name)
        try:
            value = self._evaluate(self._conditions[name])
        finally:
            self._conditions_in_progress.discard(name)
        self._condition_values[name] = value
        return value

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if is_intrinsic(value) and "Condition" not in value:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(argument)
            return self._function(name, argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name as a string, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo_parameters:
            return self._pseudo_parameters[name]
        if name in self._parameters:
            return self._parameter(name)
        if name in self._resources:
            # sam local gives a resource's logical id, because the physical name only exists once deployed.
            return name
        return placeholder(f"Ref {name}")

    def _parameter(self, name: str) -> Any:
        declaration = self._parameters[name] or {}
        if name in self._overrides:
            value = self._overrides[name]
        elif "Default" in declaration:
            value = declaration["Default"]
        else:
            return placeholder(f"Ref {name} (parameter without Default; pass a parameter override)")

        parameter_type = str(declaration.get("Type", "String"))
        if isinstance(value, str) and parameter_type.startswith(_LIST_PARAMETER_TYPES):
            return [item.strip() for item in value.split(",")] if value else []
        return value

    def _function(self, name: str, argument: Any) -> Any:
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._evaluate({name: argument})
        functions: dict[str, Callable[[Any], Any]] = {
            "Fn::If": self._if,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::GetAtt": self._get_att,
            "Fn::Base64": self._base64,
            "Fn::GetAZs": self._get_azs,
            "Fn::ImportValue": self._import_value,
            "Fn::Length": self._length,
            "Fn::ToJsonString": self._to_json_string,
        }
        function = functions.get(name)
        if function is None:
            # Fn::Cidr needs a deployed VPC, and Fn::Transform runs a macro.
            return placeholder(name)
        return function(argument)

    def _if(self, argument: Any) -> Any:
        condition_name, if_true, if_false = self._arguments("Fn::If", argument, 3)
        return self._resolve(if_true if self.condition(condition_name) else if_false)

    def _join(self, argument: Any) -> str:
        delimiter, items = self._arguments("Fn::Join", argument, 2)
        resolved_items = self._resolve(items)
        if not isinstance(resolved_items, list):
            raise TemplateError(f"Fn::Join needs a list of values, got {resolved_items!r}")
        return str(self._resolve(delimiter)).join(_to_text(item) for item in resolved_items)

    def _split(self, argument: Any) -> list[str]:
        delimiter, source = self._arguments("Fn::Split", argument, 2)
        return str(self._resolve(source)).split(str(self._resolve(delimiter)))

    def _base64(self, argument: Any) -> str:
        text = _to_text(self._resolve(argument))
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def _get_azs(self, argument: Any) -> list[str]:
        # Three made-up zone names: a local run has no account to ask for the real ones.
        return [f"{self.region}{zone}" for zone in "abc"]

    def _import_value(self, argument: Any) -> str:
        return placeholder(f"Fn::ImportValue {_to_text(self._resolve(argument))}")

    # Fn::Length and Fn::ToJsonString come from the AWS::LanguageExtensions transform.
    def _length(self, argument: Any) -> int:
        items = self._resolve(argument)
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Length needs a list, got {items!r}")
        return len(items)

    def _to_json_string(self, argument: Any) -> str:
        return json.dumps(self._resolve(argument), separators=(",", ":"))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, variables = self._arguments("Fn::Sub", argument, 2)
            if not isinstance(text, str) or not isinstance(variables, dict):
                raise TemplateError(f"Fn::Sub needs [text, {{name: value}}], got {argument!r}")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return _to_text(self._resolve(variables[expression]))
            if "." in expression and not expression.startswith("AWS::"):
                return _to_text(self._get_att(expression))
            return _to_text(self._ref(expression))

        return _SUB_VARIABLE.sub(substitute, text)

    def _select(self, argument: Any) -> Any:
        index, items = self._arguments("Fn::Select", argument, 2)
        resolved_items = self._resolve(items)
        try:
            position = int(self._resolve(index))
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"Fn::Select needs an integer index, got {index!r}") from exc
        if not isinstance(resolved_items, list) or not 0 <= position < len(resolved_items):
            raise TemplateError(f"Fn::Select index {position} is outside the list {resolved_items!r}")
        return resolved_items[position]

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise TemplateError(f"Fn::FindInMap needs [map, top key, second key], got {argument!r}")
        map_name, top_key, second_key = (self._resolve(item) for item in argument[:3])
        try:
            return self._resolve(self._mappings[map_name][top_key][second_key])
        except (KeyError, TypeError):
            # The optional fourth item, {DefaultValue: ...}, comes from AWS::LanguageExtensions.
            if len(argument) == 4 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
                return self._resolve(argument[3]["DefaultValue"])
            raise TemplateError(
                f"Fn::FindInMap found no value at Mappings.{map_name}.{top_key}.{second_key}; "
                "add the entry or a DefaultValue"
            ) from None

    def _get_att(self, argument: Any) -> str:
        if isinstance(argument, str):
            target = argument
        else:
            resource, attribute = self._arguments("Fn::GetAtt", argument, 2)
            target = f"{resource}.{self._resolve(attribute)}"
        return placeholder(f"Fn::GetAtt {target}")

    def _evaluate(self, expression: Any) -> bool:
        """Evaluate a condition expression: Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition."""
        if isinstance(expression, bool):
            return expression
        if not isinstance(expression, dict) or len(expression) != 1:
            raise TemplateError(
                f"cannot evaluate condition {expression!r}: use Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition"
            )

        ((name, argument),) = expression.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = self._arguments(name, argument, 2)
            return _to_comparable(self._resolve(left)) == _to_comparable(self._resolve(right))
        if name == "Fn::Not":
            (operand,) = self._arguments(name, argument, 1)
            return not self._evaluate(operand)
        if name in ("Fn::And", "Fn::Or"):
            if not isinstance(argument, list) or len(argument) < 2:
                raise TemplateError(f"{name} needs a list of at least two conditions, got {argument!r}")
            values = (self._evaluate(operand) for operand in argument)
            return all(values) if name == "Fn::And" else any(values)
        raise TemplateError(f"{name} cannot be used as a condition; use Fn::Equals, Fn::Not, Fn::And or Fn::Or")

    @staticmethod
    def _arguments(name: str, argument: Any, count: int) -> list[Any]:
        if not isinstance(argument, list) or len(argument) != count:
            raise TemplateError(f"{name} needs a list of {count} items, got {argument!r}")
        return argument


def _to_text(value: Any) -> str:
    """Render a resolved value the way CloudFormation writes it into a string."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):
        return ",".join(_to_text(item) for item in value)
    return str(value)


def _to_comparable(value: Any) -> Any:
    # CloudFormation compares parameter values as strings, so Default: 1 equals "1".
    if isinstance(value, list):
        return [_to_text(item) for item in value]
    return _to_text(value)
