"""Requests to the routes of the OpenAPI schema, by method and path template.

Middleware runs before FastAPI routes a request; this table lets it know the route anyway,
from the same document clients read: the access check needs its scope, metrics its template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

ROUTE_RULE = "lookalike_route_rule"  # where a request's matched Rule is kept in its scope


@dataclass(frozen=True)
class Rule:
    method: str
    pattern: re.Pattern[str]
    template: str
    operation: dict[str, Any]


class RouteTable:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._rules: list[Rule] | None = None

    def _build(self) -> list[Rule]:
        rules = []
        for path, ops in self.app.openapi()["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
            for method, op in ops.items():
                rules.append(Rule(method.upper(), pattern, path, op))
        # Literal paths before templated ones: /v1/items/by-key/... before /v1/items/{id}.
        return sorted(rules, key=lambda r: -len(re.sub(r"\{[^}]+\}", "", r.template)))

    def for_request(self, scope: Mapping[str, Any]) -> Rule | None:
        """The request's rule: the one an outer middleware matched, else matched now."""
        state = scope.get("state") or {}
        if ROUTE_RULE in state:
            rule: Rule = state[ROUTE_RULE]
            return rule
        return self.match(scope["method"], scope["path"])

    def match(self, method: str, path: str) -> Rule | None:
        if self._rules is None:
            self._rules = self._build()
        method = "GET" if method == "HEAD" else method
        for rule in self._rules:
            if rule.method == method and rule.pattern.match(path):
                return rule
        return None

    def methods(self, path: str) -> set[str]:
        """The methods the document lists for the most specific template matching `path`."""
        if self._rules is None:
            self._rules = self._build()
        matching = [r for r in self._rules if r.pattern.match(path)]
        template = matching[0].template if matching else None
        return {r.method for r in matching if r.template == template}
