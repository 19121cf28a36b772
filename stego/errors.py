"""The errors of the stego library: every one is a :class:`StegoError` (a ``ValueError``) whose message names the
file, key or size at fault."""
from __future__ import annotations


class StegoError(ValueError):
    """A hiding or revealing request that cannot be carried out; nothing was written."""


class ModelLoadError(StegoError):
    """The option file or a checkpoint cannot be loaded."""


class InputImageError(StegoError):
    """An input image that cannot be used: unreadable, not RGB uint8, or not a lossless stego."""


class ImageTooLargeError(InputImageError):
    """An image whose header declares more pixels than the limit (refused before decoding)."""


class SecretCountError(StegoError):
    """Not exactly N secrets for an N-secret model."""


class CoverSizeError(StegoError):
    """A cover (or stego) whose size the model's grid cannot use."""


class KeyFileError(StegoError):
    """A key file that is missing, malformed, truncated or has wrong fields."""


class KeyMismatchError(StegoError):
    """A key that does not belong to this stego or model: another configuration, other weights, another size."""


class OutputError(StegoError):
    """An output that would overwrite an input or an existing file, or a lossy output format."""
