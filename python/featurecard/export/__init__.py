"""Self-contained offline HTML snapshots of featurecard views."""

from .html import to_html, write_html

__all__ = ["to_html", "write_html"]
