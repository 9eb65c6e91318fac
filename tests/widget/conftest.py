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
