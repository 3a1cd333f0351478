from __future__ import annotations

import pytest

from index import FilterError, MetadataFilter


def test_equality_in_and_ranges() -> None:
    f = MetadataFilter.parse(
        {"colour": "red", "brand": {"in": ["a", "b"]}, "price": {"gte": 10, "lt": 20}}
    )
    assert f.matches({"colour": "red", "brand": "a", "price": 10})
    assert not f.matches({"colour": "red", "brand": "c", "price": 10})
    assert not f.matches({"colour": "red", "brand": "a", "price": 20})
    assert not f.matches({"colour": "red", "brand": "a", "price": "cheap"})
    assert not f.matches({"brand": "a", "price": 12})  # a missing key never matches


def test_cli_expressions() -> None:
    f = MetadataFilter.from_cli(["colour=red|blue", "price>=3", "price<5", "sku=00123"])
    assert f.matches({"colour": "blue", "price": 4, "sku": "00123"})
    assert not f.matches({"colour": "blue", "price": 5, "sku": "00123"})


@pytest.mark.parametrize(
    "spec,words",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({"price": {"between": [1, 2]}}, "unknown operator"),
        ({"price": {"in": "abc"}}, "needs a list"),
        ({"price": {"gte": "ten"}}, "invalid"),
        ({"price": {}}, "unknown operator"),
    ],
)
def test_bad_filters_say_what_is_wrong(spec: object, words: str) -> None:
    with pytest.raises(FilterError, match=words):
        MetadataFilter.parse(spec)  # type: ignore[arg-type]


def test_bad_cli_expressions() -> None:
    with pytest.raises(FilterError, match="not a number"):
        MetadataFilter.from_cli(["price>=cheap"])
    with pytest.raises(FilterError, match="not a filter"):
        MetadataFilter.from_cli(["justakey"])
