"""The FeatureCard widget played from Python: traitlets, binary state, errors kept in view."""

from __future__ import annotations

from typing import Any

import anywidget
import pytest
import torch
import traitlets

import tiny
from featurecard.card.widget import FeatureCard
from featurecard.core.codecs import payload_nbytes
from featurecard.core.schema import FEATURE_CARD_TRAITS
from featurecard.workspace import Workspace


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


def live(ws: Workspace, n: int = 2) -> list[int]:
    return [int(i) for i in torch.argsort(ws.index("mlp0").n_active, descending=True)[:n]]


def test_card_state_is_binary_and_follows_feature(ws: Workspace) -> None:
    f0, f1 = live(ws)
    card = ws.card("mlp0", feature=f0)
    assert card.state["feature"] == f0 and card.error == "" and not card.busy
    assert isinstance(card.state["examples"]["acts"]["buffer"], bytes)  # binary, never JSON lists
    card.feature = f1
    assert card.state["feature"] == f1
    assert payload_nbytes(card.state) < 32_000


def test_the_synced_traits_are_the_schemas() -> None:
    """FEATURE_CARD_TRAITS (mirrored by CardModel in js/src/core/schema.ts) names every trait the
    card syncs beyond anywidget's own, build_progress included, and no other."""
    synced = {n for n in FeatureCard.class_trait_names(sync=True) if not n.startswith("_")}
    assert synced - set(anywidget.AnyWidget.class_trait_names()) == set(FEATURE_CARD_TRAITS)


def test_bad_index_from_python_raises_with_the_range(ws: Workspace) -> None:
    card = ws.card("mlp0", feature=live(ws)[0])
    with pytest.raises(traitlets.TraitError, match=r"feature 48 is out of range for 'mlp0': accepted 0 \.\. 47"):
        card.feature = 48
    with pytest.raises(IndexError, match=r"accepted 0 \.\. 47"):
        ws.card("mlp0", feature=-3)


def test_a_trait_written_by_an_old_front_end_is_still_checked(ws: Workspace) -> None:
    f0 = live(ws)[0]
    card = ws.card("mlp0", feature=f0)
    before = card.state
    sent: list[Any] = []
    card.send_state = lambda key=None: sent.append(key)  # type: ignore[method-assign]
    card.set_state({"feature": 1000})  # a trait write, as bundles before the request protocol sent
    assert card.feature == f0 and card.state is before
    assert card.error == "feature 1000 is out of range for 'mlp0': accepted 0 .. 47"
    assert ["feature"] in sent, "the front end is told to show the real index again"


def test_a_failed_computation_keeps_the_last_good_state(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    f0, f1 = live(ws)
    card = ws.card("mlp0", feature=f0)
    before = card.state

    def boom(name: str, feature: int, complete: bool = True) -> Any:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(ws, "card_state", boom)
    card.feature = f1
    assert card.state is before
    assert card.error == "RuntimeError: CUDA out of memory (simulated)"
    assert not card.busy
    monkeypatch.undo()
    card.feature = f0
    assert card.error == "" and card.state["feature"] == f0


def test_shorthand_and_unknown_kwargs(model: Any, tokens: torch.Tensor) -> None:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    card = FeatureCard(model, sae, tokens, feature=3)
    assert card.state["source"] == "sae" and card.state["feature"] == 3
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['colour'\\]"):
        FeatureCard(model, sae, tokens, feature=3, colour="red")
    with pytest.raises(TypeError, match="needs"):
        FeatureCard(model)


def test_neuron_card_and_unknown_names(ws: Workspace) -> None:
    card = ws.neuron_card("blocks.0.mlp.hook_post", 7)
    assert card.state["unit"] == "neuron" and card.state["n_features"] == 64
    with pytest.raises(KeyError, match=r"no SAE called 'x'; this Workspace has \['mlp0'\]"):
        ws.card("x")


def test_the_shorthand_gets_its_workspace_from_the_registered_factory() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import featurecard as fc\n"
        "from featurecard.card.widget import FeatureCard\n"
        "assert 'featurecard.workspace' not in sys.modules  # the card's module does not import it\n"
        "try:\n"
        "    FeatureCard(object(), object(), object())\n"
        "except RuntimeError as e:\n"
        "    print(e)\n"
        "assert fc.FeatureCard is FeatureCard and 'featurecard.workspace' in sys.modules\n"
        "from featurecard.core.view import make_workspace\n"
        "print(type(make_workspace).__name__)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("FeatureCard(model, sae, tokens) needs featurecard.workspace, which was never imported")
