"""The SAE overview widget played from Python: its state against the index and a direct SAE pass,
the front end's requests (select, label), labels in every open view, and the export's escaping."""

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
from featurecard.overview.payload import OVERVIEW_TRAITS
from featurecard.overview.widget import SaeOverview
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor, tmp_path: Path) -> Workspace:
    sae = {k: v.clone() for k, v in tiny.random_sae_weights(64, 48, seed=5).items()}
    sae["b_enc"][:2] = -1e4  # two dead latents
    return Workspace(model, saes={"mlp0": {**sae, "hook_name": HOOK}}, tokens=tokens, progress=False,
                     cache_dir=tmp_path / "cache")  # fmt: skip


def test_state_holds_every_latent_as_the_sae_computes_it(ws: Workspace, model: Any, tokens: torch.Tensor) -> None:
    ov = ws.overview("mlp0", recon_rows=4)
    assert isinstance(ov, SaeOverview) and ov.error == "" and not ov.busy
    st = ov.state
    assert st["kind"] == "sae_overview" and st["source"] == "mlp0" and st["hook"] == HOOK
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
    acts = ws.saes["mlp0"].encode(cache[HOOK])[:, 1:]  # BOS at position 0 only
    firing = (acts > 0).reshape(-1, 48).float()
    np.testing.assert_allclose(decode_array(st["latents"]["density"]), firing.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        decode_array(st["latents"]["max_act"]), acts.reshape(-1, 48).amax(0).clamp(min=0).numpy(), rtol=1e-5
    )
    s = st["summary"]
    assert s["n_latents"] == 48 and s["n_tokens"] == firing.shape[0] and s["n_dead"] == 2
    assert s["mean_l0"] == pytest.approx(float(firing.sum(1).mean()), rel=1e-6)
    assert s["recon_rows"] == 4 and s["ce_recovered"] is not None and s["explained_variance"] is not None
    top = decode_array(st["latents"]["top_token"])
    assert (top[:2] == -1).all() and (top[2:] >= 0).all()
    assert int(decode_array(st["histogram"]["counts"]).sum()) == 46  # the live latents
    assert payload_nbytes(st) < 20_000
    assert any("first 4 dataset rows" in n for n in st["notes"])
    synced = {n for n in ov.trait_names() if ov.trait_metadata(n, "sync") and not n.startswith("_")}
    assert set(OVERVIEW_TRAITS) <= synced


def test_a_row_click_opens_the_latents_card(ws: Workspace, ask: Any) -> None:
    ov = ws.overview("mlp0", recon_rows=2)
    reply = ask(ov, "select", unit=7)
    assert reply["ok"] and ov.selected == {"unit": 7}
    assert ov.card["source"] == "mlp0" and ov.card["feature"] == 7
    reply = ask(ov, "select", source="mlp0", unit=9)  # the open card's own navigation
    assert reply["ok"] and ov.card["feature"] == 9
    bad = ask(ov, "select", unit=48)
    assert not bad["ok"] and "accepted 0 .. 47" in bad["error"] and ov.card["feature"] == 9
    neuron = ask(ov, "select", source=HOOK, unit=1)  # the card's link to a correlated neuron
    assert neuron["ok"] and ov.card["source"] == HOOK and ov.card["feature"] == 1
    assert ov.card_widget().source == HOOK
    nowhere = ask(ov, "select", source="blocks.0.hook_nowhere", unit=1)
    assert not nowhere["ok"] and "valid names" in nowhere["error"] and ov.card["source"] == HOOK
    assert ask(ov, "select")["ok"] and ov.card == {} and ov.selected == {}
    assert ov.open_card(3).card["feature"] == 3 and ov.card_widget().feature == 3


def test_labels_from_the_widget_and_from_python_reach_every_view(ws: Workspace, ask: Any, tmp_path: Path) -> None:
    one, two = ws.overview("mlp0", recon_rows=2), ws.overview("mlp0", recon_rows=2)
    reply = ask(one, "label", feature=5, text=HOSTILE)
    assert reply["ok"] and reply["result"] == {"feature": 5, "text": HOSTILE}
    assert one.labels == two.labels == {"5": HOSTILE}
    ws.label("mlp0", 6, "from python")
    assert two.labels == {"5": HOSTILE, "6": "from python"}
    assert ask(one, "label", feature=5, text="")["ok"] and two.labels == {"6": "from python"}
    bad = ask(one, "label", feature=99, text="x")
    assert not bad["ok"] and "accepted 0 .. 47" in bad["error"] and one.error
    assert not ask(one, "label", feature=1, text=3)["ok"]
    saved = json.loads((tmp_path / "cache" / "labels.json").read_text())
    assert saved["saes"]["mlp0"]["labels"] == {"6": "from python"}


def test_the_export_carries_labels_as_text(ws: Workspace, tmp_path: Path) -> None:
    ws.label("mlp0", 4, HOSTILE)
    ov = ws.overview("mlp0", recon_rows=2).open_card(4)
    page = ov.export_html(tmp_path / "overview.html").read_text(encoding="utf-8")
    assert "<img" not in page  # neither the label nor a token can open an element
    assert len(re.findall(r"</script", page, re.I)) == 5  # css, bundle, data, provenance, runtime
    data = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', page, re.S)
    assert data is not None
    payload = json.loads(data.group(1))
    assert payload["values"]["labels"] == {"4": HOSTILE}
    assert payload["states"][0]["kind"] == "sae_overview" and payload["values"]["card"]["feature"] == 4
    assert "featurecard SAE overview: mlp0" in page
    prov = re.search(r'<script type="application/json" id="featurecard-provenance">(.*?)</script>', page, re.S)
    assert prov is not None and json.loads(prov.group(1))["saes"] == [{"name": "mlp0", "hook": HOOK}]


def test_bad_options_name_the_range(ws: Workspace) -> None:
    with pytest.raises(ValueError, match=r"dense_threshold must be a number in \(0, 1\]"):
        ws.overview("mlp0", dense_threshold=2)
    with pytest.raises(ValueError, match="recon_rows must be an int >= 1"):
        ws.overview("mlp0", recon_rows=0)
    with pytest.raises(KeyError, match="no SAE called 'nope'"):
        ws.overview("nope")
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        ws.overview("mlp0", colour="red")


def test_the_widget_and_its_state_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('torch', 'transformer_lens', 'sae_lens'):\n"
        "    sys.modules[name] = None\n"
        "import featurecard.overview.payload, featurecard.overview.widget, featurecard.overview.labels\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_the_export_escapes_markup_in_top_tokens(model: Any, tok: Any, tmp_path: Path) -> None:
    """A dataset of tokens holding '<' (the tiny tokenizer learnt '</script>'-like pieces): every
    latent's top token is one, and the page's data holds them only as JSON escapes."""
    marked = [i for i in range(len(tok)) if "<" in tok.decode([i]) and i != tok.bos_token_id]
    assert marked, "the tiny vocabulary has tokens with '<'"
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor(marked)[torch.randint(len(marked), (4, 12), generator=g)]
    ids[:, 0] = tok.bos_token_id
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    ov = Workspace(model, saes={"mlp0": sae}, tokens=ids, progress=False).overview("mlp0", recon_rows=2)
    shown = ov.state["vocab"]
    assert shown and all("<" in t for t in shown)
    page = ov.export_html(tmp_path / "tokens.html").read_text(encoding="utf-8")
    data = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', page, re.S)
    assert data is not None and "<" not in data.group(1)
    assert json.loads(data.group(1))["states"][0]["vocab"] == shown
