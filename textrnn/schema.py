"""Typed records to and from JSON: frozen dataclasses whose fields say their types.

`to_json` turns a record into plain JSON values (enums as their values, tuples as lists);
`from_json` rebuilds a record from them, checking every value against its field's type and naming
the field that is wrong ("metadata.json: training.history[3].loss must be a number (got 'x')").
Unknown keys are ignored (a newer textrnn may add fields); a missing key takes the field's default,
and is an error where the field has none.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


class SchemaError(ValueError):
    """A JSON value does not fit the record it should become; `where` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


def to_json(value: Any) -> Any:
    """A record (or any nesting of records, enums, tuples, lists and dicts) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def from_json(cls: type[T], data: Any, where: str = "") -> T:
    """Rebuild `cls` (a dataclass) from JSON values; SchemaError names the first wrong field.

    A ValueError raised by the record's own checks (__post_init__) is re-raised as a SchemaError
    for the record as a whole.
    """
    return _convert(data, cls, where)


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, where)
            except SchemaError as err:
                errors.append(err)
        raise errors[0] if len(errors) == 1 else SchemaError(where, f"unexpected value {_describe(value)}")
    if dataclasses.is_dataclass(hint):
        return _record(value, hint, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(str(m.value) for m in hint)
            raise SchemaError(where, f"must be one of {choices} (got {_describe(value)})") from None
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise SchemaError(where, f"must be a list (got {_describe(value)})")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(where, f"must be an object (got {_describe(value)})")
        item = typing.get_args(hint)[1] if typing.get_args(hint) else Any
        return {str(k): _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise SchemaError(where, f"must be true or false (got {_describe(value)})")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(where, f"must be a whole number (got {_describe(value)})")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(where, f"must be a number (got {_describe(value)})")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SchemaError(where, f"must be a string (got {_describe(value)})")
        return value
    raise TypeError(f"schema: unsupported field type {hint!r} at {where}")  # a bug, not bad data


def _record(value: Any, cls: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise SchemaError(where, f"must be an object (got {_describe(value)})")
    hints = _hints(cls)
    old_names = {new: old for old, new in getattr(cls, "renamed", {}).items()}
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        inner = f"{where}.{f.name}" if where else f.name
        key = f.name if f.name in value else old_names.get(f.name)  # a record written before a rename
        if key in value:
            kwargs[f.name] = _convert(value[key], hints[f.name], inner)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(inner, "is missing")
    try:
        return cls(**kwargs)
    except ValueError as err:  # the record's own checks (ConfigError is one)
        raise SchemaError(where, str(err)) from err
