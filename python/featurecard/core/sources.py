"""The sources a Workspace reads: its SAEs checked against the model, and a hook's neurons."""

from __future__ import annotations

from typing import Any

from jaxtyping import Int
from torch import Tensor

from .inputs import check_finite, unit_width
from .model import HookNameError, ModelAdapter, flatten_hook_activation
from .sae import SAEError, SparseAutoencoder, identity_sae
from .sae_input import as_sae


def _probe(tokens: Int[Tensor, "batch pos"]) -> Tensor:
    return tokens[:1, : min(4, tokens.shape[1])]


def named_sae(adapter: ModelAdapter, name: str, obj: Any) -> SparseAutoencoder:
    """``obj`` as an SAE (an SAELens object or folder, or weights) with finite weights on a hook of the
    model (errors name the SAE); not yet moved to the model's device."""
    try:
        sae = as_sae(obj)
    except SAEError as e:
        raise SAEError(f"SAE {name!r}: {e}") from e
    check_finite(name, sae)
    adapter.validate_hook(sae.hook_name, what=f"the hook of SAE {name!r}")
    return sae


def check_sae(adapter: ModelAdapter, tokens: Int[Tensor, "batch pos"], name: str, obj: Any) -> SparseAutoencoder:
    """``obj`` as an SAE on the model's device: :func:`named_sae`, and its hook's vectors of the SAE's
    ``d_in`` (errors name the SAE)."""
    sae = named_sae(adapter, name, obj)
    act = adapter.capture(_probe(tokens), [sae.hook_name])[sae.hook_name]
    try:
        flatten_hook_activation(act, sae.d_in, sae.hook_name)
    except ValueError as e:
        raise SAEError(f"SAE {name!r}: {e}") from e
    return sae.to(device=adapter.device)


def neuron_source(
    adapter: ModelAdapter, tokens: Int[Tensor, "batch pos"], name: str, saes: list[str]
) -> SparseAutoencoder:
    """The neurons of hook ``name`` as an identity SAE; KeyError for a name that is neither one of
    the SAEs ``saes`` nor a hook, ValueError for a hook without units at each position."""
    try:
        adapter.validate_hook(name)
    except HookNameError as e:
        raise KeyError(f"{name!r} is neither an SAE of this Workspace {sorted(saes)} nor a hook: {e}") from e
    probe = _probe(tokens)
    act = adapter.capture(probe, [name])[name]
    d = unit_width(name, act, probe.shape[1])
    return identity_sae(name, d, device=adapter.device, dtype=act.dtype)
