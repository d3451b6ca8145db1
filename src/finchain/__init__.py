"""finchain: consortium blockchain and financial technology with national crypto throughout."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finchain")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
