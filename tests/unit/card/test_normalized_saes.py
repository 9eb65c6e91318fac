"""Hover effects of SAEs that normalise their input per token, against SAELens and the model.

SAELens's ``constant_norm_rescale`` and ``layer_norm`` SAEs encode a normalised input and
de-normalise their output per token, so a latent's write in the hook's space is
``decode(f) - decode(f with the latent zeroed)`` de-normalised as SAELens does, not
``a · W_dec[f]``. Each card's hover effects must equal the model's own forward pass with
that difference (SAELens's ``decode``, mapped to the residual stream) removed from the final
residual, on both routes of a card (quick, from the kept inputs; complete, re-capturing them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import featurecard.card.assemble as cards_module
from featurecard.card import index_pass, quick_cards
from featurecard.card.payload import HoverRows
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae

sae_lens = pytest.importorskip("sae_lens", reason="SAELens is in the main environment only (TL 3.x)")

D_SAE = 48
CASES = [
    ("standard", {"normalize_activations": "none"}, "blocks.0.hook_resid_post"),
    ("standard", {"normalize_activations": "expected_average_only_in"}, "blocks.0.hook_resid_post"),
    ("standard", {"normalize_activations": "constant_norm_rescale"}, "blocks.0.hook_resid_post"),
    ("standard", {"normalize_activations": "layer_norm"}, "blocks.0.hook_resid_post"),
    ("standard", {"normalize_activations": "constant_norm_rescale"}, "blocks.0.mlp.hook_post"),
    ("jumprelu", {"normalize_activations": "layer_norm"}, "blocks.0.mlp.hook_post"),
    ("topk", {"k": 8, "normalize_activations": "layer_norm"}, "blocks.0.hook_resid_post"),
]


def saelens_sae(arch: str, d_in: int, hook: str, **cfg_kw: object) -> Any:
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    sae_cls, cfg_cls = get_sae_class(arch)
    cfg = cfg_cls(d_in=d_in, d_sae=D_SAE, **cfg_kw)
    cfg.metadata = SAEMetadata(hook_name=hook)
    sae = sae_cls(cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, p in sae.named_parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(0.2 * torch.rand(D_SAE, generator=g))
    return sae.eval()


def saelens_write(sae: Any, x: torch.Tensor, latent: int) -> torch.Tensor:
    """SAELens's own ``decode(f) - decode(f without the latent)``, each de-normalised by
    SAELens (its ``decode`` uses the coefficients its ``encode`` stored, so encode runs first)."""
    f = sae.encode(x)
    full = sae.decode(f)
    f0 = sae.encode(x).clone()
    f0[..., latent] = 0
    return torch.as_tensor(full - sae.decode(f0))


def _recorded_hovers(monkeypatch: pytest.MonkeyPatch) -> list[HoverRows]:
    seen: list[HoverRows] = []
    real = getattr(cards_module, "hovers")  # noqa: B009 (not re-exported)

    def spy(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        seen.extend(h for h in out if h is not None)
        return out

    monkeypatch.setattr(cards_module, "hovers", spy)
    return seen


def _reference(
    model: Any, tokens: torch.Tensor, arch: str, kw: dict[str, object], hook: str
) -> tuple[Any, torch.Tensor, int, torch.Tensor]:
    """A SAELens SAE, its input, a latent that fires on some tokens, and Δ log p of every token at
    every position when SAELens's decode difference of that latent leaves the final residual."""
    d_in = int(model.cfg.d_mlp if "mlp" in hook else model.cfg.d_model)
    sae = saelens_sae(arch, d_in, hook, **kw)
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in (hook, final))
        x = cache[hook]
        f = sae.encode(x)
        counts = ((f != 0) & (tokens != model.tokenizer.bos_token_id)[..., None]).sum((0, 1))
        latent = int(
            torch.argmax(
                torch.where(counts < counts.max(), counts, counts.min()) if counts.min() < counts.max() else counts
            )
        )
        assert counts[latent] > 3, "the latent must fire on some tokens"
        write = saelens_write(sae, x, latent)  # [batch, pos, d_in], in the hook's space
        if "mlp" in hook:
            write = write @ model.W_out[0]
        clean = torch.log_softmax(model(tokens), -1)
        patched = torch.log_softmax(model.run_with_hooks(tokens, fwd_hooks=[(final, lambda r, **_: r - write)]), -1)
    return sae, x, latent, clean - patched


@pytest.mark.parametrize(
    ("arch", "kw", "hook"), CASES, ids=[f"{a}-{kw['normalize_activations']}-{h}" for a, kw, h in CASES]
)
@pytest.mark.parametrize("complete", [False, True], ids=["quick", "complete"])
def test_hover_effects_remove_saelens_decode_difference(
    model: Any,
    tokens: torch.Tensor,
    arch: str,
    kw: dict[str, object],
    hook: str,
    complete: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sae, x, latent, delta = _reference(model, tokens, arch, kw, hook)

    seen = _recorded_hovers(monkeypatch)
    ws = fc.Workspace(model, saes={"s": sae}, tokens=tokens, progress=False)
    ws.card_state("s", latent, complete=complete)
    (h,) = seen
    assert h.rows.size > 0
    scale, _ = as_sae(sae).output_scale(x)
    if kw["normalize_activations"] in ("constant_norm_rescale", "layer_norm"):
        assert float((scale - 1).abs().max()) > 0.05, "the case must exercise a scale other than 1"
    _assert_effects(h, delta, tokens)


def _assert_effects(h: HoverRows, delta: torch.Tensor, tokens: torch.Tensor) -> None:
    """Each shown token's effects are the model's ``delta`` there."""
    for i, (r, p) in enumerate(zip(h.rows.tolist(), h.pos.tolist(), strict=True)):
        ref = delta[r, p]
        np.testing.assert_allclose(h.top_values[i], ref.topk(5).values.numpy(), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(h.bottom_values[i], (-(-ref).topk(5).values).numpy(), atol=1e-4, rtol=1e-4)
        # The ids are those tokens' (ties aside): their reference values equal the card's.
        np.testing.assert_allclose(ref[h.top_ids[i]].numpy(), h.top_values[i], atol=1e-4, rtol=1e-4)
        if p + 1 < tokens.shape[1]:
            want = -float(ref[int(tokens[r, p + 1])])
            assert abs(float(h.loss_change[i]) - want) < 1e-4 * (1 + abs(want))
        else:
            assert np.isnan(h.loss_change[i])


@pytest.mark.parametrize("norm", ["none", "expected_average_only_in", "constant_norm_rescale", "layer_norm"])
@pytest.mark.parametrize("magnitude", [1e-4, 1.0, 30.0])
def test_output_scale_reproduces_saelens_decode(norm: str, magnitude: float) -> None:
    """``s · decode(f) + o`` is SAELens's ``decode(f)``, also for inputs so small that the
    ``eps`` of layer_norm's input side would show if it were used on the output side too."""
    sae = saelens_sae("standard", 16, "blocks.0.hook_resid_post", normalize_activations=norm)
    x = magnitude * torch.randn(5, 7, 16, generator=torch.Generator().manual_seed(1))
    ours = as_sae(sae)
    with torch.no_grad():
        f = sae.encode(x)
        want = sae.decode(f)
        s, o = ours.output_scale(x)
        got = s * ours.decode(f) + o
    torch.testing.assert_close(got, want, atol=1e-6 * magnitude, rtol=1e-5)


@pytest.mark.parametrize(("arch", "kw", "hook"), [CASES[2], CASES[5]], ids=["rescale-resid", "layer_norm-mlp"])
def test_with_nothing_kept_the_shown_rows_run_once(
    model: Any,
    tokens: torch.Tensor,
    arch: str,
    kw: dict[str, object],
    hook: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A complete card of a per-token-normalised SAE where the pass kept neither the final residual
    nor the SAE's inputs (both over budget): its shown rows run forward once for both hooks, and
    the effects are still the model's."""
    sae, _x, latent, delta = _reference(model, tokens, arch, kw, hook)
    monkeypatch.setattr(quick_cards, "CAPTURE_BUDGET", 0)
    monkeypatch.setattr(index_pass, "FINAL_RESID_BUDGET", 0)
    seen = _recorded_hovers(monkeypatch)
    ws = fc.Workspace(model, saes={"s": sae}, tokens=tokens, progress=False)
    ws.index("s")  # the pass first: only the shown rows' forwards are counted below
    forwards: list[list[str]] = []
    real = ModelAdapter.capture

    def counted(self: ModelAdapter, batch: torch.Tensor, hooks: Any) -> dict[str, torch.Tensor]:
        forwards.append(list(hooks))
        return real(self, batch, hooks)

    monkeypatch.setattr(ModelAdapter, "capture", counted)
    ws.card_state("s", latent)
    (h,) = seen
    assert h.rows.size > 0
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    assert forwards == [[final, hook]]
    _assert_effects(h, delta, tokens)
