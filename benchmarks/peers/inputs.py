"""One shared set of benchmark inputs, loadable from our venv and from both peer venvs.

Recipe (benchmarks/README.md says why it is built this way):

* **Tokenizer**: byte-level BPE trained offline with ``tokenizers`` on the Python standard
  library's own ``.py`` sources. 5 000 tokens: ``<|endoftext|>`` (id 0; BOS, EOS and padding),
  4 997 learnt BPE tokens and two added *markup* tokens, ``<b>bold</b>`` and
  ``</script><i>x</i>``, which probe how a dashboard escapes vocabulary strings. The folder is
  written by hand (``tokenizer.json`` + a minimal ``tokenizer_config.json``) rather than with
  ``save_pretrained``, so transformers 4.56 / 4.57 (peers) and 5.x (ours) all load it with
  ``AutoTokenizer.from_pretrained(folder)`` and TransformerLens can reload it by path.
* **Tokens**: 256 rows x 128 positions, each row ``BOS`` + 127 consecutive tokens of stdlib
  text; every 4th row has the two markup tokens planted at fixed positions.
* **Model**: a random 2-layer ``HookedTransformer`` (d_model 128, 4 heads x 32, d_mlp 512,
  n_ctx 128, GELU, LayerNorm, seed 0). Only the config dict and the *parameters* are stored:
  TransformerLens 3.x keeps a lazy ``(0, 0)`` attention-mask buffer where 2.x keeps
  ``(n_ctx, n_ctx)``, so buffers are left to each version's constructor.
* **SAE**: a random ReLU SAE on ``blocks.0.mlp.hook_post`` (d_in 512, d_sae 2048). Decoder rows
  have unit norm (so SAEDashboard's in-place ``fold_W_dec_norm`` is a no-op),
  ``W_enc = W_dec.T + noise``, ``b_dec = 0`` and ``b_enc`` is minus each latent's 97th
  percentile pre-activation over the token set, so every latent fires on ~3 % of tokens.
* ``wu_scale`` (10): multiply ``W_U`` by it after loading. The random model's logit ranges are
  about +-0.2, which triggers both peers' histogram-tick bug (hundreds of thousands of ticks per
  histogram; benchmarks/README.md) and would inflate their times; x10 keeps every range above 0.3.

Everything in ``inputs.pt`` is a plain tensor, str, int, float or dict, so it loads with
``torch.load(weights_only=True)`` under every torch/TransformerLens/SAELens pair we use.
This module imports nothing beyond torch and the standard library at import time: the peer
runners import it from inside the peer venvs.

Build (from our venv, which has ``tokenizers`` and TransformerLens)::

    .venv/bin/python benchmarks/peers/inputs.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import torch

#: Bump when the recipe changes; stored in the file and checked on load.
INPUTS_VERSION = 1
DEFAULT_PEERS_DIR = Path(os.environ.get("FEATURECARD_PEERS_DIR", Path.home() / ".cache" / "featurecard-peers"))
DEFAULT_INPUTS = DEFAULT_PEERS_DIR / "inputs.pt"

EOT = "<|endoftext|>"
MARKUP_TOKENS = ("<b>bold</b>", "</script><i>x</i>")
VOCAB_SIZE = 5000
N_ROWS, SEQ_LEN = 256, 128
MARKUP_EVERY, MARKUP_POSITIONS = 4, (17, 73)  # rows 0, 4, 8, ...; one position per markup token
HOOK_NAME, HOOK_LAYER = "blocks.0.mlp.hook_post", 0
D_SAE, DENSITY, ENC_NOISE = 2048, 0.03, 0.1
WU_SCALE = 10.0
TRAIN_CHARS = 6_000_000  # of stdlib source for BPE training (a few seconds on 2 cores)

MODEL_CFG: dict[str, Any] = {
    "n_layers": 2,
    "d_model": 128,
    "n_heads": 4,
    "d_head": 32,
    "d_mlp": 512,
    "d_vocab": VOCAB_SIZE,
    "n_ctx": SEQ_LEN,
    "act_fn": "gelu",
    "normalization_type": "LN",
    "seed": 0,
}


# --------------------------------------------------------------------------- building


def stdlib_sources() -> list[str]:
    """The standard library's ``.py`` files (tests, idlelib, site-packages skipped), sorted by path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo", "__pycache__"}
    texts = []
    for path in sorted(root.rglob("*.py")):
        if skip.intersection(path.relative_to(root).parts):
            continue
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


def train_tokenizer(texts: list[str], folder: Path) -> Any:
    """Train the byte-level BPE, write a Hugging Face tokenizer folder, return the ``tokenizers`` object."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(MARKUP_TOKENS),
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    budget, sample = 0, []
    for text in texts:
        sample.append(text)
        budget += len(text)
        if budget >= TRAIN_CHARS:
            break
    tk.train_from_iterator(sample, trainer, length=len(sample))
    tk.add_tokens(list(MARKUP_TOKENS))
    # Prepend BOS like featurecard's embedded tokenizer, so TransformerLens sees a BOS-prepending tokenizer.
    tk.post_processor = processors.TemplateProcessing(single=f"{EOT} $A", special_tokens=[(EOT, 0)])
    if tk.token_to_id(EOT) != 0 or tk.get_vocab_size(with_added_tokens=True) != VOCAB_SIZE:
        size = tk.get_vocab_size(with_added_tokens=True)
        raise RuntimeError(f"tokenizer: EOT id {tk.token_to_id(EOT)} (want 0), vocab {size} (want {VOCAB_SIZE})")

    folder.mkdir(parents=True, exist_ok=True)
    tk.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOT,
        "eos_token": EOT,
        "unk_token": EOT,
        "pad_token": EOT,
        "model_max_length": SEQ_LEN,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    special = dict.fromkeys(("bos_token", "eos_token", "unk_token", "pad_token"), EOT)
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return tk


def make_tokens(tk: Any, texts: list[str]) -> torch.Tensor:
    """``[N_ROWS, SEQ_LEN]`` int64: BOS + consecutive stdlib tokens, markup planted every 4th row."""
    need = N_ROWS * (SEQ_LEN - 1)
    stream: list[int] = []
    # Skip the training sample's head so the dataset is not the text the BPE saw first.
    for enc in tk.encode_batch(texts[len(texts) // 3 :], add_special_tokens=False):
        stream.extend(enc.ids)
        stream.append(0)
        if len(stream) >= need:
            break
    if len(stream) < need:
        raise RuntimeError(f"only {len(stream)} stdlib tokens, need {need}")
    body = torch.tensor(stream[:need], dtype=torch.int64).view(N_ROWS, SEQ_LEN - 1)
    tokens = torch.cat([torch.zeros(N_ROWS, 1, dtype=torch.int64), body], dim=1)
    markup_ids = [tk.token_to_id(t) for t in MARKUP_TOKENS]
    for pos, tok_id in zip(MARKUP_POSITIONS, markup_ids, strict=True):
        tokens[::MARKUP_EVERY, pos] = tok_id
    return tokens


def make_sae(model: Any, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """The random ReLU SAE's weights, thresholded to ~``DENSITY`` per latent on ``tokens``."""
    d_in = model.cfg.d_mlp
    gen = torch.Generator().manual_seed(1)
    W_dec = torch.randn(D_SAE, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    W_enc = W_dec.T.clone() + ENC_NOISE * torch.randn(d_in, D_SAE, generator=gen)
    b_dec = torch.zeros(d_in)

    acts = []
    with torch.inference_mode():
        for batch in tokens.split(64):
            _, cache = model.run_with_cache(batch, names_filter=HOOK_NAME, stop_at_layer=HOOK_LAYER + 1)
            acts.append(cache[HOOK_NAME].reshape(-1, d_in))
        pre = (torch.cat(acts) - b_dec) @ W_enc  # [n_tokens, d_sae]
        k = round((1 - DENSITY) * pre.shape[0])
        b_enc = -torch.cat([chunk.kthvalue(k, dim=0).values for chunk in pre.split(256, dim=1)])
    return {"W_enc": W_enc.contiguous(), "b_enc": b_enc.contiguous(), "W_dec": W_dec.contiguous(), "b_dec": b_dec}


def build_inputs(out: Path = DEFAULT_INPUTS) -> Path:
    """Build ``out`` and its tokenizer folder ``<out stem>-tokenizer/``. Needs ``tokenizers`` and TransformerLens."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    t0 = time.perf_counter()
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tokdir = tokenizer_dir(out)
    texts = stdlib_sources()
    tk = train_tokenizer(texts, tokdir)
    tokens = make_tokens(tk, texts)

    torch.manual_seed(0)
    model = HookedTransformer(HookedTransformerConfig(**MODEL_CFG))
    model.eval()
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    sae = make_sae(model, tokens)

    payload = {
        "version": INPUTS_VERSION,
        "model_cfg": dict(MODEL_CFG),
        "model_params": params,
        "tokens": tokens,
        "tokenizer_dir": tokdir.name,  # relative to the inputs file
        "markup_tokens": list(MARKUP_TOKENS),
        "markup_token_ids": [tk.token_to_id(t) for t in MARKUP_TOKENS],
        "sae": {"hook_name": HOOK_NAME, "hook_layer": HOOK_LAYER, "d_in": MODEL_CFG["d_mlp"], "d_sae": D_SAE, **sae},
        "wu_scale": WU_SCALE,
        "python": sys.version.split()[0],
    }
    tmp = out.with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    tmp.replace(out)
    print(f"wrote {out} and {tokdir}/ in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return out


def tokenizer_dir(inputs_path: Path) -> Path:
    """Where the tokenizer folder of ``inputs_path`` lives: next to it, named ``<stem>-tokenizer``."""
    return Path(inputs_path).resolve().with_name(f"{Path(inputs_path).stem}-tokenizer")


def ensure_inputs(path: Path = DEFAULT_INPUTS) -> Path:
    """``path``, built first if it (or its tokenizer folder) is missing or from an older recipe."""
    path = Path(path)
    if path.exists() and (tokenizer_dir(path) / "tokenizer.json").exists():
        try:
            if load_inputs(path)["version"] == INPUTS_VERSION:
                return path
        except Exception:  # anything unreadable is rebuilt
            pass
    return build_inputs(path)


# --------------------------------------------------------------------------- loading (every env)


def load_inputs(path: Path = DEFAULT_INPUTS) -> dict[str, Any]:
    """The stored payload, plus ``"tokenizer_path"`` (absolute). Plain tensors and dicts only."""
    data: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=True)
    data["tokenizer_path"] = str(Path(path).resolve().parent / data["tokenizer_dir"])
    return data


def load_tokenizer(data: dict[str, Any]) -> Any:
    """The tokenizer folder, loaded with this env's ``AutoTokenizer``."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(data["tokenizer_path"])


def load_model(data: dict[str, Any], cls: Any = None, *, wu_scale: float | None = None) -> Any:
    """Rebuild the model as ``cls`` (default ``HookedTransformer``; peers pass ``HookedSAETransformer``).

    ``W_U`` is multiplied by ``wu_scale`` (default: the stored ``data["wu_scale"]``; pass 1.0 for the raw model).
    """
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cls = cls or HookedTransformer
    model = cls(HookedTransformerConfig(**data["model_cfg"]), tokenizer=load_tokenizer(data))
    missing, unexpected = model.load_state_dict(data["model_params"], strict=False)
    buffers = {name for name, _ in model.named_buffers()}
    if unexpected or set(missing) - buffers:
        raise RuntimeError(f"model state mismatch: missing {sorted(set(missing) - buffers)}, unexpected {unexpected}")
    scale = data["wu_scale"] if wu_scale is None else wu_scale
    with torch.no_grad():
        model.unembed.W_U.mul_(scale)
    return model.eval()


def load_sae(data: dict[str, Any]) -> Any:
    """The SAE as this env's SAELens class: ``SAE.from_dict`` (SAELens 5) or ``StandardSAE`` (SAELens 6)."""
    import sae_lens

    s = data["sae"]
    major = int(sae_lens.__version__.split(".")[0])
    if major >= 6:
        from sae_lens import StandardSAE, StandardSAEConfig
        from sae_lens.saes.sae import SAEMetadata

        cfg = StandardSAEConfig(
            d_in=s["d_in"],
            d_sae=s["d_sae"],
            dtype="float32",
            device="cpu",
            apply_b_dec_to_input=True,
            metadata=SAEMetadata(hook_name=s["hook_name"], context_size=SEQ_LEN, prepend_bos=True),
        )
        sae = StandardSAE(cfg)
    else:
        from sae_lens import SAE

        sae = SAE.from_dict(
            {
                "architecture": "standard",
                "d_in": s["d_in"],
                "d_sae": s["d_sae"],
                "activation_fn_str": "relu",
                "apply_b_dec_to_input": True,
                "finetuning_scaling_factor": False,
                "context_size": SEQ_LEN,
                "model_name": "featurecard-peer-bench",
                "hook_name": s["hook_name"],
                "hook_layer": s["hook_layer"],
                "hook_head_index": None,
                "prepend_bos": True,
                "dataset_path": "",
                "dataset_trust_remote_code": False,
                "normalize_activations": "none",
                "dtype": "float32",
                "device": "cpu",
                "sae_lens_training_version": None,
            }
        )
    state = {k: s[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec")}
    sae.load_state_dict(state, strict=True)
    return sae.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_INPUTS, help=f"inputs file (default {DEFAULT_INPUTS})")
    args = parser.parse_args(argv)
    build_inputs(args.out)


if __name__ == "__main__":
    main()
