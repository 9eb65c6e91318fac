"""Tokens that hold bidi controls or right-to-left letters draw in token order, in every view.

A vocabulary entry with U+202E (right-to-left override) reverses the display of everything
after it in its paragraph; an isolate (U+2067) leaks into the next tokens; adjacent Hebrew
tokens form one right-to-left run that swaps them. Each exported view (card, graph, node
table) is opened offline in Chromium and must (1) draw its tokens left to right in token
order, measured on their bounding boxes, (2) show no raw bidi or zero-width character in any
text node (they show as `\\u202e`-style escapes; the real text stays in data-text), and (3)
isolate every token element (`unicode-bidi: isolate`).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from cards import live_features
from pages import open_offline

import tiny

pytestmark = pytest.mark.browser

RLO, RLI, ZWSP = "\u202eRLO", "\u2067RLI", "\u200bzw"
HEBREW = ("\u05d0\u05d1", "\u05d2\u05d3")  # two right-to-left tokens
BIDI_TOKENS = (RLO, RLI, ZWSP, *HEBREW)
# bidi embeddings / overrides / isolates / marks, zero-width space / joiners, word joiner, BOM
RAW_CONTROLS = "[\\u202a-\\u202e\\u2066-\\u2069\\u200b-\\u200f\\u2060\\ufeff\\u061c]"

TEXT_NODES_JS = """root => {
  const out = [];
  const walk = (n) => {
    if (n.nodeType === Node.TEXT_NODE) out.push(n.data);
    for (const c of n.childNodes) walk(c);
    if (n.shadowRoot) walk(n.shadowRoot);
  };
  walk(root);
  return out;
}"""

BOXES_JS = """els => els.map(e => { const r = e.getBoundingClientRect();
  return [r.left, r.right, r.top, r.bottom, getComputedStyle(e).unicodeBidi]; })"""


@pytest.fixture(scope="module")
def bidi_ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Workspace whose every window holds the bidi tokens, with ordinary tokens between."""
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(tmp_path_factory.mktemp("bidi-tok"), extra_tokens=BIDI_TOKENS)
    ids = [tok.convert_tokens_to_ids(t) for t in BIDI_TOKENS]
    assert [tok.convert_ids_to_tokens(i) for i in ids] == list(BIDI_TOKENS)
    model = tiny.bridge(tok)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, len(tok) - len(BIDI_TOKENS), (8, 24), generator=g)
    tokens[:, 1::8] = ids[0]  # U+202E, then ordinary tokens that it would reverse
    tokens[:, 3::8] = ids[3]  # two adjacent Hebrew tokens
    tokens[:, 4::8] = ids[4]
    tokens[:, 5::8] = ids[1]
    tokens[:, 6::8] = ids[2]
    tokens[:, 0] = tok.bos_token_id
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


def assert_left_to_right(boxes: list[list[Any]], what: str) -> None:
    """Each token starts right of the one before it, or on a later line."""
    assert len(boxes) >= 2, what
    for i, (a, b) in enumerate(itertools.pairwise(boxes)):
        later_line = b[2] >= a[3] - 1
        assert later_line or b[0] >= a[1] - 0.5, f"{what}: token {i + 1} is drawn left of token {i}: {a} {b}"


def assert_isolated_and_escaped(page: Any, selectors: list[str]) -> None:
    root = page.locator("#featurecard-root")
    texts = root.evaluate(TEXT_NODES_JS)
    raw = [t for t in texts if page.evaluate(f"t => /{RAW_CONTROLS}/u.test(t)", t)]
    assert not raw, f"raw bidi / zero-width characters drawn: {raw!r}"
    for sel in selectors:
        els = root.locator(sel)
        assert els.count() > 0, sel
        styles = els.evaluate_all("els => els.map(e => getComputedStyle(e).unicodeBidi)")
        assert set(styles) == {"isolate"}, (sel, set(styles))


def test_card_draws_tokens_in_order_after_a_right_to_left_override(
    browser: Any, bidi_ws: Any, tmp_path: Path, artifacts: Path
) -> None:
    card = bidi_ws.card("mlp0", feature=live_features(bidi_ws, "mlp0", 1)[0])
    out = card.export_html(artifacts / "export-bidi-card.html")
    assert RLO in card.state["vocab"]
    assert not re.search(RAW_CONTROLS, out.read_text(encoding="utf-8"))  # the file's source holds escapes only
    offline = open_offline(browser, out)
    page = offline.page
    root = page.locator("#featurecard-root")
    rows = root.locator(".fc-seq")
    seen_rlo = 0
    for r in range(rows.count()):
        spans = rows.nth(r).locator("span.fc-tok")
        texts = spans.evaluate_all("els => els.map(e => e.dataset.text)")
        seen_rlo += texts.count(RLO)
        assert_left_to_right(spans.evaluate_all(BOXES_JS), f"example row {r}")
    assert seen_rlo > 0, "the card must show the U+202E token"
    shown = root.locator("span.fc-tok").evaluate_all("els => els.map(e => [e.dataset.text, e.textContent])")
    assert next(s for d, s in shown if d == RLO) == "\\u202eRLO"  # drawn as an escape, the text kept
    assert next(s for d, s in shown if d == HEBREW[0]) == HEBREW[0]  # right-to-left letters drawn as they are
    assert_isolated_and_escaped(page, ["span.fc-tok", ".fc-logit-tok"])
    root.locator("span.fc-tok", has_text="\\u202eRLO").first.hover()  # the tooltip's token, too
    page.wait_for_timeout(100)
    assert_isolated_and_escaped(page, [".fc-tt-token"])
    page.screenshot(path=str(artifacts / "export-bidi-card.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


def test_graph_and_node_table_draw_tokens_in_order(browser: Any, bidi_ws: Any, artifacts: Path) -> None:
    prompt = bidi_ws.tokens[0, :12]
    graph = bidi_ws.graph(prompt, target=8)
    offline = open_offline(browser, graph.export_html(artifacts / "export-bidi-graph.html"))
    labels = offline.page.locator("#featurecard-root .fc-g-token")
    assert labels.count() == 12
    assert_left_to_right(labels.evaluate_all(BOXES_JS), "graph token labels")
    assert_isolated_and_escaped(offline.page, [".fc-g-token"])
    offline.assert_clean()
    offline.ctx.close()

    table = bidi_ws.nodes(prompt, target=5, distractor=7)
    offline = open_offline(browser, table.export_html(artifacts / "export-bidi-nodes.html"))
    toks = offline.page.locator("#featurecard-root .nt-tok")
    assert toks.count() == 12
    assert_left_to_right(toks.evaluate_all(BOXES_JS), "node table prompt")
    assert_isolated_and_escaped(offline.page, [".nt-tok", ".nt-where-tok"])
    offline.assert_clean()
    offline.ctx.close()
