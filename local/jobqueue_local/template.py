"""Load a SAM template and resolve one function's configuration for a local run.

The configuration is what `sam local invoke` would give the function: the
SAM rules for merging ``Globals.Function`` into the function's properties,
intrinsic functions resolved by ``IntrinsicResolver``, and environment
variables layered the way sam layers them (see ``resolve_function``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import EnvVarsFileError, FunctionNotFound, TemplateError
from .intrinsics import PLACEHOLDER_PREFIX, IntrinsicResolver, is_intrinsic

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
# Lambda's defaults when neither the function nor Globals sets a value.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
MAX_TIMEOUT_SECONDS = 900

_SHORT_FORM_TAGS = (
    "Ref", "Condition", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Select",
    "Split", "FindInMap", "ImportValue", "Base64", "GetAZs", "Cidr", "Transform",
)  # fmt: skip
# SAM merges these Globals lists by replacing the function's list, not by concatenating.
_REPLACED_LISTS = ("Architectures",)


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that reads short-form tags such as ``!Ref X`` as their long form ``{"Ref": "X"}``."""


def _construct_intrinsic(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    tag = node.tag.removeprefix("!")
    name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag == "GetAtt":
            # The short form writes "Resource.Attribute", and the attribute itself may contain dots.
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


for _tag in _SHORT_FORM_TAGS:
    _CloudFormationLoader.add_constructor(f"!{_tag}", _construct_intrinsic)


@dataclass(frozen=True)
class FunctionConfig:
    """A function's resolved configuration, with paths made absolute against the template's folder."""

    logical_id: str
    function_name: str
    code_uri: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    region: str
    # Every variable the template declares for the function, as strings, after overrides.
    environment: dict[str, str]
    # Folders to put on sys.path for the function's layers, in the order Lambda applies them.
    layer_paths: tuple[Path, ...]
    # Layers given as ARNs, which a local run cannot download.
    skipped_layers: tuple[str, ...] = ()
    # Names in the --env-vars file that the function does not declare, so sam and this runner ignore them.
    ignored_overrides: tuple[str, ...] = ()

    @property
    def unresolved_variables(self) -> tuple[str, ...]:
        """Names of environment variables whose value only a deployed stack could provide."""
        return tuple(name for name, value in self.environment.items() if value.startswith(PLACEHOLDER_PREFIX))


def load_template(path: Path | str) -> dict[str, Any]:
    """Parse a SAM template, turning short-form tags into long-form intrinsic functions.

    Raises ``TemplateError`` when the file is missing, is not YAML or has no ``Resources``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template {path} not found; run from the project root or pass --template") from None
    try:
        template = yaml.load(text, Loader=_CloudFormationLoader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template {path} is not valid YAML: {exc}") from exc
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources mapping; is it a SAM template?")
    return template


def function_ids(template: Mapping[str, Any]) -> list[str]:
    """Return the logical ids of the template's AWS::Serverless::Function resources, sorted."""
    resources = template.get("Resources") or {}
    return sorted(
        logical_id
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == FUNCTION_TYPE
    )


def load_env_vars_file(path: Path | str) -> dict[str, dict[str, Any]]:
    """Read a `sam local invoke --env-vars` JSON file.

    The file maps ``"Parameters"`` (applies to every function) and function
    logical ids or names (applies to that function) to objects of variable
    names and values. Raises ``EnvVarsFileError`` when it is missing, not
    JSON or not shaped like that.
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnvVarsFileError(f"env-vars file {path} not found; check the --env-vars path") from None
    except json.JSONDecodeError as exc:
        raise EnvVarsFileError(f"env-vars file {path} is not valid JSON: {exc}") from exc

    if not isinstance(content, dict):
        raise EnvVarsFileError(
            f'env-vars file {path} must contain a JSON object such as {{"Parameters": {{"NAME": "value"}}}}'
        )
    for section, variables in content.items():
        if not isinstance(variables, dict):
            raise EnvVarsFileError(
                f"env-vars file {path}: {section!r} must map variable names to values, got {variables!r}"
            )
    return content


def resolve_function(
    template_path: Path | str,
    function_id: str,
    *,
    env_vars_file: Path | str | None = None,
    parameter_overrides: Mapping[str, Any] | None = None,
    shell_env: Mapping[str, str] | None = None,
) -> FunctionConfig:
    """Resolve the configuration of the function ``function_id`` for a local run.

    Environment variables are layered as `sam local invoke` layers them, the
    later layer winning: ``Globals.Function``, the function's own
    ``Environment``, ``shell_env`` (the values of declared variables only),
    the env-vars file's ``Parameters``, then its section for the function
    (by logical id, else by ``FunctionName``). Like sam, the file and the
    shell only change variables the template declares. The others are listed
    in ``ignored_overrides``.

    Raises ``FunctionNotFound`` for an unknown id, ``TemplateError`` for a
    property a local run cannot use and ``EnvVarsFileError`` for a bad file.
    """
    template_path = Path(template_path).resolve()
    template = load_template(template_path)
    resources = template["Resources"]
    resource = resources.get(function_id)
    if not isinstance(resource, dict) or resource.get("Type") != FUNCTION_TYPE:
        raise FunctionNotFound(function_id, function_ids(template), template_path)

    resolver = IntrinsicResolver(template, parameter_overrides)
    global_properties = (template.get("Globals") or {}).get("Function") or {}
    properties = _merge_globals(global_properties, resource.get("Properties") or {})
    base_dir = template_path.parent

    def resolved(name: str) -> Any:
        return resolver.resolve(properties.get(name))

    function_name = resolved("FunctionName")
    if not isinstance(function_name, str) or function_name.startswith(PLACEHOLDER_PREFIX):
        function_name = function_id

    _check_runtime(function_id, resolved("Runtime"), resolved("PackageType"))
    declared = _declared_variables(resolved("Environment"))
    overrides = load_env_vars_file(env_vars_file) if env_vars_file is not None else {}
    environment, ignored = _apply_overrides(declared, overrides, (function_id, function_name), shell_env or {})
    layer_paths, skipped_layers = _layer_paths(function_id, resolved("Layers"), resources, resolver, base_dir)

    return FunctionConfig(
        logical_id=function_id,
        function_name=function_name,
        code_uri=_code_folder(function_id, resolved("CodeUri"), base_dir),
        handler=_handler(function_id, resolved("Handler")),
        timeout_seconds=_positive_int(function_id, "Timeout", resolved("Timeout"), DEFAULT_TIMEOUT_SECONDS),
        memory_mb=_positive_int(function_id, "MemorySize", resolved("MemorySize"), DEFAULT_MEMORY_MB),
        region=resolver.region,
        environment=environment,
        layer_paths=layer_paths,
        skipped_layers=skipped_layers,
        ignored_overrides=ignored,
    )


def _merge_globals(global_value: Any, local_value: Any, key: str = "") -> Any:
    """Merge a Globals value into a function's value with SAM's rules.

    Maps merge key by key, lists concatenate (globals first), and anything
    else, intrinsic functions included, takes the function's value.
    """
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if is_intrinsic(global_value) or is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for name, value in local_value.items():
            merged[name] = _merge_globals(global_value[name], value, name) if name in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list) and key not in _REPLACED_LISTS:
        return global_value + local_value
    return local_value


def _check_runtime(function_id: str, runtime: Any, package_type: Any) -> None:
    if package_type == "Image":
        raise TemplateError(f"{function_id}: PackageType Image needs a container; the local runner runs Zip functions")
    if runtime is not None and not str(runtime).startswith("python"):
        raise TemplateError(f"{function_id}: Runtime {runtime!r} is not Python; the local runner runs Python handlers")


def _declared_variables(environment: Any) -> dict[str, str]:
    if environment is None:
        return {}
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise TemplateError(f"Environment.Variables must be a mapping, got {variables!r}")
    return {str(name): _to_env_value(value) for name, value in variables.items()}


def _apply_overrides(
    declared: dict[str, str],
    overrides: Mapping[str, Mapping[str, Any]],
    function_keys: tuple[str, str],
    shell_env: Mapping[str, str],
) -> tuple[dict[str, str], tuple[str, ...]]:
    layers: list[Mapping[str, Any]] = [
        {name: value for name, value in shell_env.items() if name in declared},
        overrides.get("Parameters") or {},
    ]
    # sam checks the logical id first and uses the first section it finds.
    function_section = next((overrides[key] for key in function_keys if key in overrides), None)
    if function_section:
        layers.append(function_section)

    environment = dict(declared)
    ignored: set[str] = set()
    for layer in layers:
        for name, value in layer.items():
            if name in declared:
                environment[name] = _to_env_value(value)
            else:
                ignored.add(name)
    return environment, tuple(sorted(ignored))


def _to_env_value(value: Any) -> str:
    # Lambda environment values are strings, and this converts other values the way sam local does.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _code_folder(function_id: str, code_uri: Any, base_dir: Path) -> Path:
    if not isinstance(code_uri, str):
        raise TemplateError(
            f"{function_id}: CodeUri {code_uri!r} is not a local folder; "
            "the local runner needs a path such as functions/processor"
        )
    folder = (base_dir / code_uri).resolve()
    if not folder.is_dir():
        raise TemplateError(f"{function_id}: CodeUri {code_uri!r} resolves to {folder}, which is not a folder")
    return folder


def _handler(function_id: str, handler: Any) -> str:
    if not isinstance(handler, str) or "." not in handler.strip("."):
        raise TemplateError(
            f"{function_id}: Handler {handler!r} must look like module.function, e.g. app.lambda_handler"
        )
    return handler


def _positive_int(function_id: str, name: str, value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{function_id}: {name} {value!r} is not a whole number") from None
    if number <= 0 or (name == "Timeout" and number > MAX_TIMEOUT_SECONDS):
        raise TemplateError(f"{function_id}: {name} {number} is out of range")
    return number


def _layer_paths(
    function_id: str,
    layers: Any,
    resources: Mapping[str, Any],
    resolver: IntrinsicResolver,
    base_dir: Path,
) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    if layers is None:
        return (), ()
    if not isinstance(layers, list):
        raise TemplateError(f"{function_id}: Layers must be a list, got {layers!r}")

    paths: list[Path] = []
    skipped: list[str] = []
    for layer in layers:
        # A Ref to a layer resolves to the layer's logical id, see IntrinsicResolver._ref.
        resource = resources.get(layer) if isinstance(layer, str) else None
        if not isinstance(resource, dict) or resource.get("Type") != LAYER_TYPE:
            skipped.append(str(layer))
            continue
        paths.append(_layer_folder(str(layer), resource, resolver, base_dir))
    return tuple(paths), tuple(skipped)


def _layer_folder(layer_id: str, resource: Mapping[str, Any], resolver: IntrinsicResolver, base_dir: Path) -> Path:
    properties = resource.get("Properties") or {}
    content_uri = resolver.resolve(properties.get("ContentUri"))
    if not isinstance(content_uri, str):
        raise TemplateError(f"{layer_id}: ContentUri {content_uri!r} is not a local folder")
    folder = (base_dir / content_uri).resolve()
    if not folder.is_dir():
        raise TemplateError(f"{layer_id}: ContentUri {content_uri!r} resolves to {folder}, which is not a folder")

    # A layer without a BuildMethod is zipped as it is, and Lambda imports from its python/ folder.
    # A built layer (makefile or pythonX.Y) keeps its packages at the top of the source folder.
    build_method = (resource.get("Metadata") or {}).get("BuildMethod")
    if build_method is None and (folder / "python").is_dir():
        return folder / "python"
    return folder
