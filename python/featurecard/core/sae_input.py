"""What users hand us as an SAE (a SAELens SAE, a SAELens folder, a weight mapping), as a SparseAutoencoder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from .sae import SAEError, SparseAutoencoder, _from_mapping, _from_saelens_object
from .saelens_folder import load_saelens_folder


def as_sae(obj: object, hook_name: str | None = None) -> SparseAutoencoder:
    """Turn a SAELens SAE, a SAELens folder path or a weight mapping into a SparseAutoencoder.

    ``hook_name`` overrides the one the SAE carries (needed for mappings without one).
    """
    if isinstance(obj, SparseAutoencoder):
        return obj if hook_name is None else replace(obj, hook_name=hook_name)
    if isinstance(obj, str | Path):
        sae = load_saelens_folder(obj)
        return sae if hook_name is None else replace(sae, hook_name=hook_name)
    if isinstance(obj, Mapping):
        return _from_mapping(obj, hook_name)
    if hasattr(obj, "W_enc") and hasattr(obj, "W_dec"):
        return _from_saelens_object(obj, hook_name)
    raise SAEError(
        f"cannot use {type(obj).__name__} as an SAE; accepted: a SAELens SAE, a path to a SAELens folder "
        "(cfg.json + sae_weights.safetensors), or a mapping with W_enc, b_enc, W_dec, b_dec and hook_name"
    )
