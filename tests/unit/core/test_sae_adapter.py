"""Our SAE adapter against SAELens's own encode, for every architecture and option,
and against encodings computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from featurecard.core.sae_input import as_sae
from featurecard.core.saelens_folder import load_saelens_folder, save_saelens_folder

sae_lens = pytest.importorskip("sae_lens", reason="SAELens is in the main environment only (TL 3.x)")

D_IN, D_SAE = 12, 40


def _saelens(arch: str, **cfg_kw: object) -> object:
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    sae_cls, cfg_cls = get_sae_class(arch)
    cfg = cfg_cls(d_in=D_IN, d_sae=D_SAE, **cfg_kw)
    cfg.metadata = SAEMetadata(hook_name="blocks.0.hook_resid_post")
    sae = sae_cls(cfg)
    g = torch.Generator().manual_seed(hash(arch) % 1000)
    with torch.no_grad():
        for _, p in sae.named_parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(0.2 * torch.rand(D_SAE, generator=g))
    return sae


CASES = [
    ("standard", {}),
    ("standard", {"apply_b_dec_to_input": False}),
    ("standard", {"normalize_activations": "constant_norm_rescale"}),
    ("standard", {"normalize_activations": "layer_norm"}),
    ("standard", {"normalize_activations": "expected_average_only_in"}),
    ("topk", {"k": 5}),
    ("topk", {"k": 5, "rescale_acts_by_decoder_norm": True}),
    ("topk", {"k": 7, "apply_b_dec_to_input": False, "normalize_activations": "layer_norm"}),
    ("jumprelu", {}),
    ("jumprelu", {"normalize_activations": "constant_norm_rescale"}),
    ("gated", {}),
    ("gated", {"apply_b_dec_to_input": False}),
]


@pytest.mark.parametrize(
    ("arch", "kw"), CASES, ids=[f"{a}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for a, kw in CASES]
)
def test_encode_matches_saelens(arch: str, kw: dict[str, object], tmp_path: Path) -> None:
    ref = _saelens(arch, **kw)
    x = torch.randn(3, 5, D_IN, generator=torch.Generator().manual_seed(7)) * 2
    expected = ref.encode(x)  # type: ignore[attr-defined]
    ours = as_sae(ref)
    assert ours.architecture == arch
    assert ours.hook_name == "blocks.0.hook_resid_post"
    torch.testing.assert_close(ours.encode(x), expected, atol=1e-5, rtol=1e-5)
    assert (expected != 0).any(), "the case must exercise active latents"
    # The folder SAELens writes, read with safetensors alone, gives the same numbers.
    ref.save_model(tmp_path / "saelens")  # type: ignore[attr-defined]
    torch.testing.assert_close(load_saelens_folder(tmp_path / "saelens").encode(x), expected, atol=1e-5, rtol=1e-5)
    # And the folder we write opens in SAELens with the same encode.
    save_saelens_folder(ours, tmp_path / "ours")
    back = sae_lens.SAE.load_from_disk(tmp_path / "ours")
    torch.testing.assert_close(back.encode(x), expected, atol=1e-5, rtol=1e-5)


def test_decode_matches_saelens_topk_rescaled() -> None:
    ref = _saelens("topk", k=4, rescale_acts_by_decoder_norm=True)
    f = ref.encode(torch.randn(6, D_IN))  # type: ignore[attr-defined]
    torch.testing.assert_close(as_sae(ref).decode(f), ref.decode(f), atol=1e-5, rtol=1e-5)  # type: ignore[attr-defined]


def test_adapter_does_not_mutate_the_callers_sae() -> None:
    ref = _saelens("standard")
    before = {n: p.detach().clone() for n, p in ref.named_parameters()}  # type: ignore[attr-defined]
    as_sae(ref).to(dtype=torch.float64)
    for n, p in ref.named_parameters():  # type: ignore[attr-defined]
        torch.testing.assert_close(p.detach(), before[n])
