"""Fixtures of the widget tier: ``ask`` plays one request of the front end against a widget."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

Ask = Callable[..., dict[str, Any]]


@pytest.fixture
def ask() -> Ask:
    """``ask(widget, name, **args)``: the reply to ``{kind: "fc-request", id, name, args}``, sent
    to the widget's custom-message handler as the front end's comm would; exactly one reply."""
    counter = iter(range(1_000_000))

    def run(widget: Any, name: str, **args: Any) -> dict[str, Any]:
        sent: list[Any] = []

        def capture(content: Any, buffers: Any = None) -> None:
            del buffers
            sent.append(content)

        widget.send = capture
        rid = f"r{next(counter)}"
        widget._handle_custom_msg({"kind": "fc-request", "id": rid, "name": name, "args": args}, [])
        assert len(sent) == 1, sent
        reply = sent[0]
        assert reply["kind"] == "fc-reply" and reply["id"] == rid and isinstance(reply["ok"], bool)
        assert ("result" in reply) == reply["ok"] and ("error" in reply) != reply["ok"]
        json.dumps(reply)  # a reply is plain JSON
        return dict(reply)

    return run


SearchCheck = Callable[..., None]


@pytest.fixture
def check_hits() -> SearchCheck:
    """``check_hits(hits, model, hook, encode, max_act, text, k)``: asserts a search's hits equal
    those computed independently: the model's own ``run_with_cache``, ``encode`` (an SAE's, or
    the identity for neurons), a max over the text's non-BOS positions, and ``frac`` as the peak
    over the unit's dataset max ``max_act``."""

    def run(hits: list[dict[str, Any]], model: Any, hook: str, encode: Any, max_act: Any, text: str, k: int) -> None:
        toks = model.to_tokens(text)
        _, cache = model.run_with_cache(toks, names_filter=lambda n: n == hook)
        peak, where = encode(cache[hook][0, 1:]).detach().float().max(0)
        want = [u for u in peak.argsort(descending=True)[:k].tolist() if peak[u] > 0]
        assert [h["feature"] for h in hits] == want and want
        for h in hits:
            u = h["feature"]
            m = float(max_act[u])
            assert h["act"] == pytest.approx(float(peak[u]), abs=1e-5) and h["pos"] == int(where[u]) + 1
            assert h["frac"] == pytest.approx(h["act"] / m if m > 0 else 0.0, rel=1e-5)

    return run
