"""The prompt view played from Python: its state against the SAE by hand and the compute tier's
functions, the front end's select request (the card with the prompt on top), options refused
with their range, and the export's escaping and provenance."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array, payload_nbytes
from featurecard.prompt.payload import PROMPT_TRAITS
from featurecard.prompt.widget import PromptView
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
Z_HOOK = "blocks.1.attn.hook_z"
TEXT = "is <b>bold</b> & </script><i>x</i>"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    mlp = {k: v.clone() for k, v in tiny.random_sae_weights(64, 40, seed=5).items()}
    mlp["b_enc"] -= 0.1
    z = tiny.random_sae_weights(32, 24, seed=9)
    saes = {"mlp0": {**mlp, "hook_name": HOOK}, "z1": {**z, "hook_name": Z_HOOK}}
    return Workspace(model, saes=saes, tokens=tokens, progress=False)


def by_hand(model: Any, ids: torch.Tensor, w: Any, hook: str) -> torch.Tensor:
    _, cache = model.run_with_cache(ids[None], names_filter=lambda n: n == hook)
    x = cache[hook][0].detach().flatten(1)
    return torch.relu((x - w.b_dec) @ w.W_enc + w.b_enc)


def test_state_lists_every_firing_latent_with_its_numbers(ws: Workspace, model: Any) -> None:
    pv = ws.prompt("mlp0", TEXT)
    assert isinstance(pv, PromptView) and pv.error == "" and not pv.busy
    st = pv.state
    assert st["kind"] == "prompt_view" and st["source"] == "mlp0" and st["hook"] == HOOK and st["text"] == TEXT
    ids = model.to_tokens(TEXT, prepend_bos=True)[0].cpu()
    acts = by_hand(model, ids, ws.saes["mlp0"], HOOK)
    acts[0] = 0  # BOS lists no latents
    pos, latent = (
        decode_array(st["pairs"]["pos"]).astype(np.int64),
        decode_array(st["pairs"]["latent"]).astype(np.int64),
    )
    assert {(int(p), int(f)) for p, f in zip(pos, latent, strict=True)} == {
        (int(p), int(f)) for p, f in torch.nonzero(acts > 0).tolist()
    }
    np.testing.assert_allclose(decode_array(st["pairs"]["act"]), acts[pos, latent].numpy(), rtol=1e-5, atol=1e-6)
    q = decode_array(st["pairs"]["quantile"])
    assert ((q > 0) & (q <= 1)).all()
    nxt = decode_array(st["pairs"]["loss_next"])
    assert np.isnan(nxt[pos == len(ids) - 1]).all() and np.isfinite(nxt[pos < len(ids) - 1]).all()
    assert decode_array(st["counted"]).tolist() == [0] + [1] * (len(ids) - 1)
    assert st["dfa"] is None and "attn.hook_z" in st["unavailable"]["dfa"]
    assert decode_array(st["clean_loss"]).shape == (len(ids) - 1,)
    assert payload_nbytes(st) < 20_000
    synced = {n for n in pv.trait_names() if pv.trait_metadata(n, "sync") and not n.startswith("_")}
    assert set(PROMPT_TRAITS) <= synced


def test_an_attention_output_sae_carries_dfa_summing_to_its_pre_activation(ws: Workspace) -> None:
    pv = ws.prompt("z1", TEXT, max_per_token=3)
    st = pv.state
    assert st["dfa"] is not None and "dfa" not in st["unavailable"]
    pos = decode_array(st["pairs"]["pos"]).astype(np.int64)
    offsets, values = decode_array(st["dfa"]["offsets"]), decode_array(st["dfa"]["values"])
    pre, bias = decode_array(st["dfa"]["pre"]), decode_array(st["dfa"]["bias"])
    act = decode_array(st["pairs"]["act"])
    for i in range(pos.shape[0]):
        part = values[offsets[i] : offsets[i + 1]]
        assert part.shape == (int(pos[i]) + 1,)
        assert float(part.astype(np.float64).sum()) == pytest.approx(float(pre[i] - bias[i]), abs=1e-5)
    np.testing.assert_allclose(pre, act, rtol=1e-5, atol=1e-5)  # firing ReLU latents: act = pre
    latent = decode_array(st["pairs"]["latent"]).astype(np.int64)
    i = int(np.argmax(pos))  # a pair late in the prompt: many sources
    card = pv.open_card(int(latent[i]), int(pos[i])).card
    got = decode_array(card["prompt"]["dfa"])
    np.testing.assert_allclose(got, values[offsets[i] : offsets[i + 1]], rtol=1e-6, atol=1e-7)
    assert pv.open_card(int(latent[i]), -1).card["prompt"]["dfa"] is None  # no token chosen: no DFA


def test_a_latent_click_opens_its_card_with_the_prompt_on_top(ws: Workspace, model: Any, ask: Any) -> None:
    pv = ws.prompt("mlp0", TEXT)
    st = pv.state
    pos, latent = (
        decode_array(st["pairs"]["pos"]).astype(np.int64),
        decode_array(st["pairs"]["latent"]).astype(np.int64),
    )
    p, f = int(pos[3]), int(latent[3])
    reply = ask(pv, "select", unit=f, pos=p)
    assert reply["ok"] and pv.selected == {"unit": f, "pos": p}
    card = pv.card
    assert card["source"] == "mlp0" and card["feature"] == f
    block = card["prompt"]
    assert block["text"] == TEXT and block["focus"] == p
    ids = model.to_tokens(TEXT, prepend_bos=True)[0].cpu()
    want = by_hand(model, ids, ws.saes["mlp0"], HOOK)[:, f]
    want[0] = 0
    np.testing.assert_allclose(decode_array(block["acts"]), want.numpy(), rtol=1e-5, atol=1e-6)
    local = decode_array(block["tokens"])
    assert [block["vocab"][i] for i in local] == [model.tokenizer.decode([int(t)]) for t in ids]
    other = ask(pv, "select", source="mlp0", unit=(f + 1) % 40)  # the card's own index box
    assert other["ok"] and pv.card["feature"] == (f + 1) % 40 and pv.card["prompt"]["focus"] == -1
    neuron = ask(pv, "select", source=HOOK, unit=2)  # a link to a correlated neuron: still the prompt
    assert neuron["ok"] and pv.card["source"] == HOOK and pv.card["prompt"]["dfa"] is None  # not an attention SAE
    np.testing.assert_allclose(
        decode_array(pv.card["prompt"]["acts"])[1:], by_hand_neuron(model, ids, 2)[1:], rtol=1e-5, atol=1e-6
    )
    bad = ask(pv, "select", unit=40, pos=1)
    assert not bad["ok"] and "accepted 0 .. 39" in bad["error"] and pv.card["source"] == HOOK
    far = ask(pv, "select", unit=1, pos=len(ids))
    assert not far["ok"] and f"[0, {len(ids) - 1}]" in far["error"]
    assert ask(pv, "select")["ok"] and pv.card == {} and pv.selected == {}
    assert pv.open_card(5, 2).card["feature"] == 5 and pv.card_widget().feature == 5
    assert "prompt" not in ws.card_state("mlp0", 5)  # the Workspace's own card is left as it was


def by_hand_neuron(model: Any, ids: torch.Tensor, unit: int) -> np.ndarray:
    _, cache = model.run_with_cache(ids[None], names_filter=lambda n: n == HOOK)
    return cache[HOOK][0, :, unit].detach().numpy()


def test_bad_options_name_the_range(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="max_per_token must be None"):
        ws.prompt("mlp0", TEXT, max_per_token=0)
    with pytest.raises(ValueError, match="batch_size must be None"):
        ws.prompt("mlp0", TEXT, batch_size=-2)
    with pytest.raises(KeyError, match="no SAE called 'nope'"):
        ws.prompt("nope", TEXT)
    with pytest.raises(ValueError, match="the prompt is empty"):
        ws.prompt("mlp0", "")
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        ws.prompt("mlp0", TEXT, colour="red")
    quiet = ws.prompt("mlp0", TEXT, loss_effects=False).state
    assert "loss" in quiet["unavailable"] and np.isnan(decode_array(quiet["pairs"]["loss_next"])).all()


def test_the_export_escapes_token_text_and_carries_provenance(ws: Workspace, tmp_path: Path) -> None:
    pv = ws.prompt("mlp0", TEXT)
    f = int(decode_array(pv.state["pairs"]["latent"])[0])
    pv.open_card(f, 1)
    page = pv.export_html(tmp_path / "prompt.html").read_text(encoding="utf-8")
    assert "<b>" not in page and "<i>" not in page  # no token opens an element
    assert len(re.findall(r"</script", page, re.I)) == 5  # css, bundle, data, provenance, runtime
    data = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', page, re.S)
    assert data is not None and "<" not in data.group(1)
    payload = json.loads(data.group(1))
    state = payload["states"][0]
    assert state["kind"] == "prompt_view" and state["text"] == TEXT
    assert any("</script>" in t or "<" in t for t in state["vocab"])  # markup-like tokens travel as text
    assert payload["values"]["card"]["feature"] == f and payload["values"]["card"]["prompt"]["text"] == TEXT
    assert "featurecard prompt view: mlp0" in page
    prov = re.search(r'<script type="application/json" id="featurecard-provenance">(.*?)</script>', page, re.S)
    assert prov is not None and json.loads(prov.group(1))["saes"] == [{"name": "mlp0", "hook": HOOK}]


def test_the_widget_and_its_state_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('torch', 'transformer_lens', 'sae_lens'):\n"
        "    sys.modules[name] = None\n"
        "import featurecard.prompt.payload, featurecard.prompt.widget, featurecard.card.prompt_block\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
