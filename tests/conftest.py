"""Shared fixtures: small real models (see tiny.py), and the browser for the browser tier."""

from __future__ import annotations

import os
from typing import Any

import pytest

import tiny  # on sys.path by pyproject.toml's pytest `pythonpath`

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def tok(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny.make_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session", params=tiny.MODEL_KINDS)
def model(request: pytest.FixtureRequest, tok: Any) -> Any:
    """Each TransformerLens model kind this environment has (both in TL 3.x, the bridge in 4.x)."""
    return tiny.hooked_transformer(tok) if request.param == "HookedTransformer" else tiny.bridge(tok)


@pytest.fixture(scope="session")
def tokens(tok: Any) -> Any:
    return tiny.random_tokens(tok, batch=8, pos=24)
