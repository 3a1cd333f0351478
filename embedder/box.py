"""A region of a query image: "x1,y1,x2,y2" in pixels of the file, or as fractions of its
width and height (every value at most 1), so that a page can send what the user drew
whatever size it showed the image at."""

from __future__ import annotations

import math
from dataclasses import dataclass

from embedder.errors import EmbedderError


class BadBoxError(EmbedderError):
    """The box cannot be read, or does not lie inside the image."""

    code = "bad_box"


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def parse(cls, text: str) -> Box:
        parts = text.replace(" ", "").split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4 or not all(math.isfinite(v) and v >= 0 for v in values):
            raise BadBoxError(
                f"The box '{text[:60]}' is not four numbers x1,y1,x2,y2 of at least 0."
            )
        box = cls(*values)
        if box.x2 <= box.x1 or box.y2 <= box.y1:
            raise BadBoxError(f"The box '{text[:60]}' is empty: x2 must exceed x1, y2 y1.")
        return box

    @property
    def fractions(self) -> bool:
        return max(self.x1, self.y1, self.x2, self.y2) <= 1.0

    def in_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box as whole pixels of a width x height image, refused when it leaves it."""
        if self.fractions:
            x1, y1, x2, y2 = self.x1 * width, self.y1 * height, self.x2 * width, self.y2 * height
        else:
            x1, y1, x2, y2 = self.x1, self.y1, self.x2, self.y2
            if x2 > width or y2 > height:
                raise BadBoxError(
                    f"The box {self.x1:g},{self.y1:g},{self.x2:g},{self.y2:g} lies outside "
                    f"the {width}x{height} image."
                )
        left, top, right, bottom = round(x1), round(y1), round(x2), round(y2)
        if right <= left or bottom <= top:
            raise BadBoxError("The box is smaller than one pixel of the image.")
        return left, top, right, bottom
