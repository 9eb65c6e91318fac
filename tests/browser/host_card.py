"""The feature card the host tests open (tests/browser/test_notebook7.py, test_marimo.py), and
what a person must see of it in any host.

Kernel side, imported by the host's kernel once :func:`require_embedded_default` found the
embedded default built: :func:`demo_card_facts` builds the README's Workspace on it and names
two readable latents, with what their cards must say (read from the activation index, not from
a card). Browser side: :func:`assert_card_shows` (a whole card with real content),
:func:`type_feature` (the index box, a request to the kernel), :func:`assert_hover_tooltip`
(the tooltip of a token where the latent fires) and :func:`assert_arrow_steps` (the card's
keys, not the host's).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pages import assert_on_top
from playwright.sync_api import expect

SOURCE = "mlp0"
# what the tests wait for: a kernel that loads the embedded default and indexes its tokens, and
# one request (the card of another latent)
RENDER_TIMEOUT_MS = 90_000
REQUEST_TIMEOUT_MS = 30_000


def require_embedded_default() -> None:
    """Fails at once, saying what to run, where the embedded default is not built: the host's
    kernel would build it for minutes (CI builds it in the tier before the browser tests)."""
    from featurecard.embedded import entry_dir, is_complete

    if not is_complete(entry_dir("default")):
        pytest.fail(f"the embedded default is not built in {entry_dir('default')}: run `featurecard demo` first")


def demo_card_facts() -> tuple[Any, dict[str, Any]]:
    """The embedded default's Workspace (as in the README) and, for its two most active latents
    among those that fire on 0.2-5% of tokens (cli.pick_live_feature's rule), their index, the
    number of latents and each one's max activation as its card's header prints it."""
    import torch

    import featurecard as fc

    model, sae, tokens = fc.demo()
    ws = fc.Workspace(model, saes={SOURCE: sae}, tokens=tokens, progress=False)
    idx = ws.index(SOURCE)
    density = idx.n_active.float() / max(idx.n_tokens, 1)
    score = torch.where((density > 0.002) & (density < 0.05), idx.max_act, torch.full_like(idx.max_act, -1.0))
    f0, f1 = (int(f) for f in torch.topk(score, 2).indices)
    facts = {
        "f0": f0,
        "f1": f1,
        "n": int(idx.n_active.numel()),
        "max_act": {str(f): f"{float(idx.max_act[f]):.3f}" for f in (f0, f1)},
    }
    return ws, facts


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 1
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
        and inner["width"] > 0
        and inner["height"] > 0
    )


def assert_card_shows(card: Any, area: Any, feature: int, facts: dict[str, Any]) -> list[str]:
    """``card`` shows ``feature``'s card whole inside the host's output ``area``: its title and
    max activation, the index box on it, tokens drawn on top; returns the first example's tokens."""
    expect(card).to_have_attribute("data-feature", str(feature), timeout=REQUEST_TIMEOUT_MS)
    expect(card.locator(".fc-feature")).to_have_text(f"feature {feature} / {facts['n']}")
    expect(card.locator(".fc-max")).to_have_text(f"max act {facts['max_act'][str(feature)]}")
    expect(card.locator("input.fc-index")).to_have_value(str(feature))
    card_box, area_box = card.bounding_box(), area.bounding_box()
    assert card_box is not None and area_box is not None
    # whole: not wider than the host's output area, and a real card, not an empty frame
    assert _inside(card_box, area_box), (card_box, area_box)
    assert card_box["width"] > 400 and card_box["height"] > 300, card_box
    first = card.locator(".fc-seq").first
    toks = first.locator("span.fc-tok")
    assert toks.count() >= 5, toks.count()
    texts = [t.strip() for t in toks.all_inner_texts()]
    assert any(texts), texts
    focus = first.locator("span.fc-tok.fc-focus").first
    focus.scroll_into_view_if_needed()
    assert_on_top(focus)
    return texts


def type_feature(card: Any, feature: int) -> None:
    """Types ``feature`` into the card's index box and presses Enter (the kernel is asked)."""
    box = card.locator("input.fc-index")
    box.scroll_into_view_if_needed()
    box.fill(str(feature))
    box.press("Enter")


def assert_arrow_steps(card: Any, feature: int) -> None:
    """With focus on the card (not in a field), ArrowRight shows the next latent, the box on it:
    the host's own keyboard shortcuts leave the card's keys to the card."""
    card.locator(".fc-feature").click()
    card.page.keyboard.press("ArrowRight")
    expect(card).to_have_attribute("data-feature", str(feature + 1), timeout=REQUEST_TIMEOUT_MS)
    expect(card.locator(".fc-feature")).to_contain_text(f"feature {feature + 1} /")
    expect(card.locator("input.fc-index")).to_have_value(str(feature + 1))


def assert_hover_tooltip(page: Any, card: Any, area: Any) -> None:
    """Hovering a token where the latent fires, in the middle of the window, shows its tooltip on
    top, at the token (just under or over it, across its column: a host's offset containing block
    would move it), inside the output area and the window, with the token's activation and its
    place in the dataset."""
    tok = card.locator(".fc-seq").first.locator("span.fc-tok.fc-focus").first
    tok.evaluate("el => el.scrollIntoView({block: 'center'})")
    tok.hover()
    tip = card.locator(".fc-tooltip")
    expect(tip).to_be_visible()
    assert_on_top(tip)
    tip_box, tok_box, area_box = tip.bounding_box(), tok.bounding_box(), area.bounding_box()
    assert tip_box is not None and tok_box is not None and area_box is not None
    below = tip_box["y"] - (tok_box["y"] + tok_box["height"])
    above = tok_box["y"] - (tip_box["y"] + tip_box["height"])
    assert 0 <= below <= 8 or 0 <= above <= 8, (tip_box, tok_box)
    assert tip_box["x"] <= tok_box["x"] + tok_box["width"] and tip_box["x"] + tip_box["width"] >= tok_box["x"]
    assert _inside(tip_box, area_box), (tip_box, area_box)
    view = page.viewport_size
    assert tip_box["y"] >= 0 and tip_box["y"] + tip_box["height"] <= view["height"] + 1, (tip_box, view)
    act = float(tok.get_attribute("data-act"))
    assert act > 0
    assert float(tip.locator(".fc-tt-act .fc-tt-num").get_attribute("data-value")) == act
    expect(tip.locator(".fc-tt-pos")).to_have_text(re.compile(r"dataset row \d+, position \d+"))
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
