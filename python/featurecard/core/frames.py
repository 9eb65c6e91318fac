"""pandas for the views' ``to_dataframe``: an optional library, loaded only when a frame is asked for.

featurecard does not depend on pandas; :func:`pandas` imports it or raises an ImportError that
says how to install it.
"""

from __future__ import annotations

from types import ModuleType


def pandas(what: str) -> ModuleType:
    """The pandas module, or an ImportError naming ``what`` needs it and ``pip install pandas``."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError(f"{what} needs pandas, which is not installed: pip install pandas") from e
    module: ModuleType = pd  # untyped (no pandas-stubs): pyproject's mypy overrides
    return module
