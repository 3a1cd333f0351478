"""The embedder's errors: one base class, one subclass per reason a person can act on."""


class EmbedderError(Exception):
    """Base class of every error raised by the embedder package."""

    code = "embedder_error"


class ImageDecodeError(EmbedderError):
    """The bytes are not an image we accept; the message says why in one sentence."""

    code = "bad_image"


class EmptyImageError(ImageDecodeError):
    code = "empty_file"


class NotAnImageError(ImageDecodeError):
    code = "not_an_image"


class UnsupportedFormatError(ImageDecodeError):
    code = "unsupported_format"


class TooManyPixelsError(ImageDecodeError):
    code = "too_many_pixels"


class TruncatedImageError(ImageDecodeError):
    code = "truncated_image"


class CorruptImageError(ImageDecodeError):
    code = "corrupt_image"


class UnknownModelError(EmbedderError):
    code = "unknown_model"


class WeightsUnavailableError(EmbedderError):
    code = "weights_unavailable"
