"""Errors with messages a photographer understands.

Every error the user can cause derives from :class:`LookalikeError`; its ``str()`` is a
one-line message naming the file and the fix. The CLI prints it, the GUI shows it in a
dialog; tracebacks go to the log only.
"""

from __future__ import annotations

from pathlib import Path


class LookalikeError(Exception):
    """Base class: a failure with a message fit to show the user."""


class CatalogError(LookalikeError):
    """The catalog is missing, corrupted, from a newer version, or not writable."""


class CatalogInUse(CatalogError):
    """Another Lookalike process is writing to this library's catalog."""


class UnreadableImage(LookalikeError):
    """A file could not be read as a photo. ``reason`` is short and in plain words."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class FolderNotFound(LookalikeError):
    """A photo folder that does not exist (or is not a folder: ``reason`` says what)."""

    def __init__(self, path: Path | str, reason: str = "folder not found") -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class PhotoNotFound(LookalikeError):
    """A photo named by the user that is missing, or not (yet) in the library."""

    def __init__(self, path: Path | str, reason: str = "file not found") -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class BadArgument(LookalikeError):
    """An option or argument the user gave that cannot work, with what would."""


class ModelUnavailable(LookalikeError):
    """The CNN or its weights could not be loaded (offline, bad file, unknown name).

    ``plain`` says it for a window: no command-line flags, no raw library errors.
    """

    def __init__(self, message: str, *, plain: str | None = None) -> None:
        super().__init__(message)
        self.plain = plain or message


class Cancelled(LookalikeError):
    """A long job was cancelled by the user."""
