"""The SAELens folder format (``cfg.json`` + ``sae_weights.safetensors``), with safetensors alone.

Reading needs no SAELens, so it works where SAELens cannot be imported (TransformerLens 4).
Writing produces a folder that SAELens 6's ``SAE.load_from_disk`` opens: the metadata block
names a ``sae_lens_version``, without which SAELens treats the folder as a legacy config and
loses the hook name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .sae import SAEError, SparseAutoencoder, _from_mapping

_WEIGHTS_FILE = "sae_weights.safetensors"
_CFG_FILE = "cfg.json"


def load_saelens_folder(path: str | Path, device: torch.device | str | None = None) -> SparseAutoencoder:
    """Read a SAELens folder (``cfg.json`` + ``sae_weights.safetensors``) without SAELens."""
    from safetensors.torch import load_file

    folder = Path(path).expanduser()
    cfg_path, w_path = folder / _CFG_FILE, folder / _WEIGHTS_FILE
    if not cfg_path.is_file() or not w_path.is_file():
        raise SAEError(f"{folder} is not a SAELens folder: it needs {_CFG_FILE} and {_WEIGHTS_FILE}")
    cfg = json.loads(cfg_path.read_text())
    weights = load_file(str(w_path), device=str(device) if device is not None else "cpu")
    meta = cfg.get("metadata") or {}
    hook = meta.get("hook_name") or cfg.get("hook_name") or cfg.get("hook_point")
    if meta.get("hook_head_index") is not None or cfg.get("hook_head_index") is not None:
        raise SAEError(f"{folder}: SAEs on a single head (hook_head_index) are not supported yet")
    arch = cfg.get("architecture", "standard")
    if cfg.get("activation_fn") == "topk" or cfg.get("activation_fn_str") == "topk":
        arch = "topk"
    k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
    if "scaling_factor" in weights and not torch.allclose(weights["scaling_factor"], torch.ones(1)):
        raise SAEError(f"{folder}: a finetuning scaling_factor other than 1 is not supported")
    sae = _from_mapping(
        {
            **weights,
            "architecture": arch,
            "k": k,
            "hook_name": hook,
            "apply_b_dec_to_input": cfg.get("apply_b_dec_to_input", True),
            "normalize_activations": cfg.get("normalize_activations", "none") or "none",
            "rescale_acts_by_decoder_norm": cfg.get("rescale_acts_by_decoder_norm", False),
        },
        None,
    )
    sae.metadata = dict(meta)
    if int(cfg.get("d_in", sae.d_in)) != sae.d_in or int(cfg.get("d_sae", sae.d_sae)) != sae.d_sae:
        raise SAEError(
            f"{folder}: cfg.json says d_in={cfg.get('d_in')}, d_sae={cfg.get('d_sae')}, "
            f"but the weights are {sae.d_in}x{sae.d_sae}"
        )
    return sae


_SAELENS_FORMAT_VERSION = "6.0.0"


def save_saelens_folder(sae: SparseAutoencoder, path: str | Path, **metadata: Any) -> Path:
    """Write ``sae`` as a SAELens 6 folder that ``SAE.load_from_disk`` opens."""
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    names = ["W_enc", "W_dec", "b_dec"] + {
        "standard": ["b_enc"],
        "topk": ["b_enc"],
        "jumprelu": ["b_enc", "threshold"],
        "gated": ["b_gate", "r_mag", "b_mag"],
    }[sae.architecture]
    save_file({n: getattr(sae, n).detach().contiguous().cpu() for n in names}, str(folder / _WEIGHTS_FILE))
    cfg: dict[str, Any] = {
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "dtype": str(sae.dtype).removeprefix("torch."),
        "device": "cpu",
        "apply_b_dec_to_input": sae.apply_b_dec_to_input,
        "normalize_activations": sae.normalize_activations,
        "reshape_activations": "hook_z" if sae.hook_name.endswith("hook_z") else "none",
        "metadata": {
            "sae_lens_version": _SAELENS_FORMAT_VERSION,
            **sae.metadata,
            **metadata,
            "hook_name": sae.hook_name,
            "hook_head_index": None,
        },
        "architecture": sae.architecture,
    }
    if sae.architecture == "topk":
        cfg["k"] = sae.k
        cfg["rescale_acts_by_decoder_norm"] = sae.rescale_acts_by_decoder_norm
    (folder / _CFG_FILE).write_text(json.dumps(cfg, indent=2))
    return folder
