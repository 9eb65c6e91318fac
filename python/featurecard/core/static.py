"""Where the built front end lives, and a clear error when it was never built."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def bundle_files(view: str = "widget") -> tuple[Path, Path]:
    """The ES module and CSS of one view's bundle (``widget`` = FeatureCard, ``graph``, ``nodes``)."""
    js, css = STATIC / f"{view}.js", STATIC / f"{view}.css"
    if not js.is_file() or not css.is_file():
        raise ImportError(
            f"featurecard's front end is missing ({js}); build it with `npm install && npm run build` "
            "in the repository root, or reinstall with `pip install -e .`"
        )
    return js, css


def runtime_file(suffix: str = ".js") -> Path:
    """The exported page's runtime (js/src/standalone.ts), built beside the bundles; with
    ``suffix=".css"`` the page's own styles (js/src/core/export-page.css)."""
    path = STATIC / f"standalone{suffix}"
    if not path.is_file():
        raise ImportError(
            f"featurecard's front end is missing ({path}); build it with `npm install && npm run build` "
            "in the repository root, or reinstall with `pip install -e .`"
        )
    return path
