"""Training the demo transformer: data layout, schedule and loop.

Data. Paragraphs are shuffled (seeded), encoded into one stream with ``<|endoftext|>`` after each
paragraph, and cut into sequences of ``n_ctx - 1`` tokens; each sequence gets a BOS in front, so
training sees exactly what ``model.to_tokens`` produces. The first ``heldout_seqs`` sequences are
held out (returned by ``demo()`` and used for every metric); the rest are training data.

Model. ``TransformerBridge.boot_native(TransformerBridgeConfig(...))``: a TransformerLens-native
GPT-2-style transformer that builds offline and loads in TransformerLens 3.9 and 4.x alike.
It is trained with AdamW (weight decay on matrices only), a linear warmup then cosine decay to
``min_lr_frac * lr``, gradient clipping, and next-token cross-entropy over every position.
Batches are drawn in a seeded random order (``torch.Generator``), so a build repeats exactly on
one machine and torch build.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor

from .recipe import Recipe
from .threads import ThreadGovernor
from .tokenizer import EOT_ID


@dataclass
class Data:
    train: Tensor  # [n_train, n_ctx] int64, BOS first
    heldout: Tensor  # [heldout_seqs, n_ctx] int64, BOS first
    stream_tokens: int


def shuffled(paragraphs: list[str], seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [paragraphs[i] for i in torch.randperm(len(paragraphs), generator=g).tolist()]


def make_sequences(stream: NDArray[np.int64], n_ctx: int, bos: int = EOT_ID) -> Tensor:
    """Cut the stream into rows of ``n_ctx - 1`` tokens and put BOS in front of each."""
    body = n_ctx - 1
    n = len(stream) // body
    rows = torch.from_numpy(stream[: n * body].astype(np.int64)).view(n, body)
    return torch.cat([torch.full((n, 1), bos, dtype=torch.int64), rows], dim=1)


def split(seqs: Tensor, heldout_seqs: int) -> Data:
    if len(seqs) < 2 * heldout_seqs:
        raise ValueError(f"the corpus gives only {len(seqs)} sequences; {heldout_seqs} are to be held out")
    return Data(train=seqs[heldout_seqs:], heldout=seqs[:heldout_seqs], stream_tokens=int(seqs.numel()))


def lr_factor(step: int, recipe: Recipe) -> float:
    """Linear warmup to 1, then cosine decay to ``min_lr_frac`` at the last step."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    span = max(1, recipe.model_steps - recipe.warmup_steps)
    progress = min(1.0, (step - recipe.warmup_steps) / span)
    return recipe.min_lr_frac + (1 - recipe.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress))


def new_model(recipe: Recipe, tokenizer: Any, device: torch.device | str | None = None) -> Any:
    """A freshly initialised TransformerBridge for ``recipe`` (TransformerLens imported here, lazily)."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    torch.manual_seed(recipe.model_seed)
    cfg = TransformerBridgeConfig(**recipe.model_config())
    return TransformerBridge.boot_native(cfg, tokenizer=tokenizer, device=device)


def next_token_loss(model: Any, tokens: Tensor) -> Tensor:
    """Mean next-token cross-entropy (nats) over every position of ``tokens``."""
    logits = model(tokens, return_type="logits")
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())


def batch_order(n: int, total: int, generator: torch.Generator) -> Tensor:
    """``total`` row indices: seeded permutations of ``range(n)``, one after another (epochs)."""
    perms = [torch.randperm(n, generator=generator) for _ in range(math.ceil(total / n))]
    return torch.cat(perms)[:total]


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def train_model(model: Any, train: Tensor, recipe: Recipe, progress: bool = True) -> dict[str, Any]:
    """Train in place; returns the final smoothed training loss, time and throughput."""
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(recipe.data_seed)
    order = batch_order(len(train), recipe.model_steps * recipe.batch_size, g).view(recipe.model_steps, -1)
    opt = torch.optim.AdamW(_param_groups(model, recipe.weight_decay), lr=recipe.lr, betas=(recipe.beta1, recipe.beta2))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, recipe))
    model.train()
    ema: float | None = None
    tokens_done = 0
    start = time.perf_counter()
    bar = tqdm(total=recipe.model_steps, desc="featurecard demo: model", disable=not progress, unit="step")
    with ThreadGovernor() as governor:
        for step in range(recipe.model_steps):
            batch = train[order[step]]
            loss = next_token_loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            opt.step()
            sched.step()
            value = float(loss.detach())
            ema = value if ema is None else 0.9 * ema + 0.1 * value
            tokens_done += batch.numel()
            rate = tokens_done / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(
                loss=f"{ema:.3f}", tok_s=f"{rate / 1000:.1f}k", threads=torch.get_num_threads(), refresh=False
            )
            bar.update(1)
            governor.tick()
    bar.close()
    seconds = time.perf_counter() - start
    model.eval()
    return {
        "train_loss_ema": float(ema or 0.0),
        "seconds": seconds,
        "tokens": tokens_done,
        "tokens_per_s": tokens_done / max(seconds, 1e-9),
        "steps_by_threads": governor.steps_by_threads,
    }


def save_model_dir(model: Any, recipe: Recipe, folder: Path) -> None:
    """``model.safetensors`` (the bridge's state_dict) and ``model_config.json`` into ``folder``."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "model_config.json").write_text(json.dumps(recipe.model_config(), indent=2, sort_keys=True))


def load_model_dir(path: str | Path, device: torch.device | str | None = None) -> Any:
    """Rebuild the demo TransformerBridge from ``model_config.json``, ``model.safetensors`` and
    ``tokenizer/`` in ``path`` (works in TransformerLens 3.9 and 4.x); returned in eval mode."""
    from safetensors.torch import load_file
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    from .tokenizer import load_tokenizer

    folder = Path(path).expanduser()
    cfg = json.loads((folder / "model_config.json").read_text())
    tokenizer = load_tokenizer(folder / "tokenizer")
    model = TransformerBridge.boot_native(TransformerBridgeConfig(**cfg), tokenizer=tokenizer, device=device)
    dev = str(device) if device is not None else "cpu"
    model.load_state_dict(load_file(str(folder / "model.safetensors"), device=dev), strict=True)
    return model.eval()


__all__ = [
    "Data",
    "batch_order",
    "load_model_dir",
    "lr_factor",
    "make_sequences",
    "new_model",
    "next_token_loss",
    "save_model_dir",
    "shuffled",
    "split",
    "train_model",
]
