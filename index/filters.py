"""Metadata filters: equality, `in` and numeric ranges on top-level metadata keys.

A filter is a JSON object: `{"colour": "red", "brand": {"in": ["a", "b"]},
"price": {"gte": 10, "lt": 50}}`. All conditions must hold.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from index.errors import FilterError

Scalar = str | int | float | bool | None
_OPS = ("eq", "in", "gt", "gte", "lt", "lte")
# A filter is parsed on every search and matched against every candidate: bounded, so that
# one request cannot cost seconds (a 200,000-key filter took 8 s before these caps).
MAX_FILTER_BYTES = 16 * 1024
MAX_CONDITIONS = 32
MAX_IN_VALUES = 1000


class Condition(BaseModel):
    # strict: a bound is a JSON number, never "5" or true coerced into one (FILTER_SCHEMA)
    model_config = ConfigDict(extra="forbid", strict=True)

    eq: Scalar = None
    in_: list[Scalar] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    has_eq: bool = False

    @model_validator(mode="after")
    def _something(self) -> Condition:
        if (
            not self.has_eq
            and self.in_ is None
            and all(v is None for v in (self.gt, self.gte, self.lt, self.lte))
        ):
            raise ValueError("a condition needs one of eq, in, gt, gte, lt, lte")
        return self

    def matches(self, value: Any) -> bool:
        if self.has_eq and value != self.eq:
            return False
        if self.in_ is not None and value not in self.in_:
            return False
        bounds = (self.gt, self.gte, self.lt, self.lte)
        if any(b is not None for b in bounds):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            if self.gt is not None and not value > self.gt:
                return False
            if self.gte is not None and not value >= self.gte:
                return False
            if self.lt is not None and not value < self.lt:
                return False
            if self.lte is not None and not value <= self.lte:
                return False
        return True


_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_NUMBER = {"type": "number"}
# The filter language as JSON Schema, for the API's OpenAPI document: what it accepts is
# exactly what `MetadataFilter.parse` accepts (but for the byte cap, which JSON Schema cannot
# count).
FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_CONDITIONS,
    "additionalProperties": {
        "anyOf": [
            _SCALAR,
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "eq": _SCALAR,
                    "in": {"type": "array", "maxItems": MAX_IN_VALUES, "items": _SCALAR},
                    "gt": _NUMBER,
                    "gte": _NUMBER,
                    "lt": _NUMBER,
                    "lte": _NUMBER,
                },
            },
        ]
    },
    "examples": [{"colour": "red", "price": {"gte": 10, "lt": 50}}],
}


class MetadataFilter(BaseModel):
    conditions: dict[str, Condition] = {}

    @classmethod
    def parse(cls, spec: dict[str, Any] | str | None) -> MetadataFilter:
        """Parse a filter object (or its JSON text); raises FilterError saying what is wrong."""
        if spec is None or spec == "":
            return cls()
        if isinstance(spec, str):
            if len(spec) > MAX_FILTER_BYTES:
                raise FilterError(f"The filter is over {MAX_FILTER_BYTES:,} characters.")
            try:
                spec = json.loads(spec)
            except json.JSONDecodeError as exc:
                raise FilterError(f"The filter is not valid JSON ({exc.msg}).") from exc
        if not isinstance(spec, dict):
            raise FilterError("The filter must be a JSON object of metadata keys.")
        if len(spec) > MAX_CONDITIONS:
            raise FilterError(f"The filter has {len(spec)} conditions; at most {MAX_CONDITIONS}.")
        conditions: dict[str, Condition] = {}
        for key, rule in spec.items():
            if isinstance(rule, dict):
                unknown = [op for op in rule if op not in _OPS]
                if unknown or not rule:
                    raise FilterError(
                        f"The filter on '{key}' uses unknown operator(s) {unknown or '{}'}; "
                        f"use {', '.join(_OPS)}."
                    )
                if any(op in rule and rule[op] is None for op in ("gt", "gte", "lt", "lte")):
                    raise FilterError(f"A bound of the filter on '{key[:80]}' needs a number.")
                if "in" in rule and not isinstance(rule["in"], list):
                    raise FilterError(f"The 'in' filter on '{key}' needs a list of values.")
                if "in" in rule and len(rule["in"]) > MAX_IN_VALUES:
                    raise FilterError(
                        f"The 'in' filter on '{key[:80]}' lists {len(rule['in'])} values; "
                        f"at most {MAX_IN_VALUES}."
                    )
                args = {("in_" if k == "in" else k): v for k, v in rule.items()}
                args["has_eq"] = "eq" in rule
            else:
                args = {"eq": rule, "has_eq": True}
            try:
                conditions[key] = Condition(**args)
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"]
                raise FilterError(f"The filter on '{key}' is invalid: {msg}.") from exc
        return cls(conditions=conditions)

    @classmethod
    def from_cli(cls, expressions: list[str]) -> MetadataFilter:
        """Parse `key=value`, `key>=3`, `key<10`, `key=a|b` expressions from the command line."""
        spec: dict[str, Any] = {}
        for expr in expressions:
            m = re.fullmatch(r"\s*([^=<>!]+?)\s*(>=|<=|>|<|=)\s*(.*)", expr)
            if not m:
                raise FilterError(f"'{expr}' is not a filter; write key=value, key>=n or key<n.")
            key, op, raw = m.groups()
            rule = spec.setdefault(key, {})
            if op == "=":
                values = [_scalar(v) for v in raw.split("|")]
                rule.update({"in": values} if len(values) > 1 else {"eq": values[0]})
            else:
                try:
                    rule[{">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]] = float(raw)
                except ValueError as exc:
                    raise FilterError(
                        f"'{expr}' compares with '{raw}', which is not a number."
                    ) from exc
        return cls.parse(spec)

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def needles(self) -> list[str]:
        """Text that the stored JSON of every matching item contains (json.dumps with its
        default separators, as item rows are written): each key with its colon, and with its
        value where a key must equal a string or null (a number or a boolean may be written
        in more than one way: 1 equals 1.0 and True). A cheap screen over the raw column
        before the exact `matches`."""
        out = []
        for key, cond in self.conditions.items():
            exact = cond.has_eq and (cond.eq is None or isinstance(cond.eq, str))
            out.append(json.dumps(key) + ": " + (json.dumps(cond.eq) if exact else ""))
        return out

    def matches(self, metadata: dict[str, Any]) -> bool:
        return all(
            key in metadata and cond.matches(metadata[key]) for key, cond in self.conditions.items()
        )


def _scalar(raw: str) -> Scalar:
    try:
        value: Scalar = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value
