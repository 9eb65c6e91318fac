"""First cards that never wait for the complete index, and the complete index built behind them.

A card needs its unit's column; the complete index needs every unit's. So a first card comes
from one of three places, cheapest first:

* a store that holds the complete index (``cache_dir`` or ``Workspace.open``): read lazily, no
  pass over the dataset (hover effects run the model at the card's shown tokens only);
* the SAE inputs kept at every position while they fit
  :data:`~featurecard.card.quick_cards.CAPTURE_BUDGET` (:class:`KeptColumns` over a
  :class:`~featurecard.card.quick_cards.StagedSource`);
* otherwise one streamed pass over the dataset that encodes only the blocks of latents the
  cards show (:func:`stream_block` latents each; :class:`StreamedSource`):
  a ReLU, JumpReLU or gated SAE encodes those columns alone; a TopK SAE encodes every latent
  (it ranks them all) and keeps the shown blocks' nonzeros, never sorting or merging an index.

Then the complete index is built in a background thread (:class:`BackgroundBuild`: into the
store where there is one, else in memory), while cards keep coming from the streamed route.
The build changes nothing in the Workspace: the Workspace takes its result, under its own lock,
when a call finds it finished (and waits for it where a call needs the complete index). Its
forward calls take the model's forward lock one batch at a time, so a card's forward runs
between two of its batches, never inside one. It stops at its next batch when cancelled
(``Workspace.close``, a new Workspace on the same model, the Workspace collected, Ctrl-C
while a call waits for it); a build that fails or stops is reported and the next call that
needs the index runs it again (a store resumes from its committed chunks).

A streamed card's numbers equal the complete card's within float32 rounding of the encoder
(the matmul's shape picks its summation order; TopK: to the bit) and its neuron correlations
within float64 rounding of the index pass's sums.
"""

from __future__ import annotations

import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.dataset import dataset_batches
from ..core.model import ModelAdapter, flatten_hook_activation, parse_hook
from ..core.sae import SparseAutoencoder
from . import final_rows, quick_cards
from .correlation import Correlated, NeuronCorrelationSums, neurons_from_column
from .index import ActivationIndex, IndexBuilder
from .index_pass import NEURON_SUMS_BUDGET, PassResult

# Start the complete index in a background thread after a streamed first card (False: a card
# that needs it builds it in the calling thread, as a single-threaded program would).
BACKGROUND = True


class QuickColumns(Protocol):
    """What a card reads before the complete index: some units' columns, their neuron correlations."""

    def prepare(self, units: Iterable[int]) -> None: ...
    def column(self, unit: int) -> tuple[ActivationIndex, int]: ...
    def neurons(self, unit: int, positions: Tensor, values: Tensor, k: int) -> Correlated | None: ...
    def kept_inputs(self) -> Float[Tensor, "n_pos d_in"] | None: ...


class KeptColumns:
    """:class:`QuickColumns` of a :class:`~featurecard.card.quick_cards.StagedSource` (kept SAE inputs)."""

    def __init__(self, staged: quick_cards.StagedSource) -> None:
        self.staged = staged

    def prepare(self, units: Iterable[int]) -> None:
        self.staged.prepare(units)

    def column(self, unit: int) -> tuple[ActivationIndex, int]:
        return self.staged.column(unit)

    def kept_inputs(self) -> Tensor | None:
        return self.staged.capture.inputs.get(self.staged.sae.hook_name)

    def neurons(self, unit: int, positions: Tensor, values: Tensor, k: int) -> Correlated | None:
        del unit  # the column is enough
        cap, hook = self.staged.capture, self.staged.sae.hook_name
        return neurons_from_column(positions, values, cap.inputs[hook], *cap.moments[hook], cap.n_tokens, k=k)


# A streamed pass encodes a block of latents around those asked for, so that the next cards a
# user opens need no pass of their own; the block is halved (down to STREAM_MIN_BLOCK) while
# encoding it would cost more than this share of the pass's forward (weights read per token).
STREAM_ENCODE_SHARE = 0.1
STREAM_MIN_BLOCK = 32


def stream_block(adapter: ModelAdapter, sae: SparseAutoencoder) -> int:
    """Latents per streamed block: :data:`~featurecard.card.quick_cards.BLOCK`, halved while a
    block's encoder (``block × d_in`` multiply-adds per token) costs more than
    :data:`STREAM_ENCODE_SHARE` of the blocks up to the SAE's hook (their weights, one multiply-add
    each per token). On the benchmark's 2-layer d_model-128 model with an SAE on layer 0's MLP
    (d_in 512) a block of 128 took as long as a third of the forward pass: it gets 32; an SAE on
    GPT-2 small's 8th block keeps 128."""
    block, layer = quick_cards.BLOCK, parse_hook(sae.hook_name).layer
    blocks = getattr(adapter.model, "blocks", None)
    if layer is None or blocks is None:
        return block
    try:
        weights = sum(p.numel() for b in list(blocks)[: layer + 1] for p in b.parameters())
    except TypeError:  # not a sequence of modules: keep the default
        return block
    floor = min(STREAM_MIN_BLOCK, block)
    while block > floor and block * sae.d_in > STREAM_ENCODE_SHARE * weights:
        block //= 2
    return max(block, floor)


# The in-memory index pass at its peak, per nonzero (its batches' runs, the sort, both views):
# 3.45 GB more than the first cards for 63.7M nonzeros at 1.05M tokens (benchmarks/scale.py).
BUILD_BYTES_PER_NONZERO = 56


def sums_fit(sae: SparseAutoencoder) -> bool:
    """Whether the complete index keeps ``sae``'s neuron-correlation sums (as the index pass decides)."""
    return sae.d_sae * sae.d_in * 8 <= NEURON_SUMS_BUDGET


@torch.no_grad()
def streamed_units(
    adapter: ModelAdapter,
    sae: SparseAutoencoder,
    tokens: Int[Tensor, "batch pos"],
    units: Int[Tensor, " k"],
    *,
    exclude_bos: bool,
    batch_size: int,
    progress: bool,
) -> tuple[ActivationIndex, NeuronCorrelationSums | None]:
    """The index of latents ``units`` (ascending) over the dataset, and their neuron-correlation
    sums (where the complete index keeps them), from one pass that encodes only those latents
    (every latent for a TopK SAE, of which only ``units`` are kept)."""
    hook, seq_len = sae.hook_name, int(tokens.shape[1])
    builder = IndexBuilder(units.numel(), seq_len, device=adapter.device)
    sums = NeuronCorrelationSums(units.numel(), sae.d_in, device=adapter.device) if sums_fit(sae) else None
    lo, hi = int(units[0]), int(units[-1]) + 1
    cols: slice | Tensor = slice(lo, hi) if hi - lo == units.numel() else units.to(adapter.device)
    desc = f"featurecard: latents {lo}..{hi - 1} of {hook}"
    for b in dataset_batches(adapter, tokens, [hook], exclude_bos=exclude_bos, batch_size=batch_size,
                             progress=progress, desc=desc):  # fmt: skip
        x = flatten_hook_activation(b.acts[hook], sae.d_in, hook)
        if sae.columnwise:
            acts = sae.encode_units(sae.preprocess(x.flatten(0, 1)), cols).reshape(*x.shape[:2], -1)
        else:
            acts = sae.encode(x)[..., cols]
        t, u, v = builder.add(acts, b.row0, b.keep)
        if sums is not None:
            sums.add_nonzeros(t, u, v, x.flatten(0, 1), b.keep.flatten())
    return builder.finish(by_position=False), sums


class StreamedSource:
    """:class:`QuickColumns` from streamed passes: each encodes the blocks of the units asked for."""

    def __init__(self, adapter: ModelAdapter, sae: SparseAutoencoder, tokens: Tensor, **options: Any) -> None:
        self.adapter, self.sae, self.tokens, self.options = adapter, sae, tokens, options
        self.block = stream_block(adapter, sae)
        # unit -> (its block's index, its block's sums, its offset there)
        self.quick: dict[int, tuple[ActivationIndex, NeuronCorrelationSums | None, int]] = {}

    def prepare(self, units: Iterable[int]) -> None:
        """One pass for the blocks of ``units`` not encoded yet (cards made together share it)."""
        block, d_sae = self.block, self.sae.d_sae
        todo = sorted({int(u) // block for u in units if int(u) not in self.quick})
        if not todo:
            return
        ids = torch.cat([torch.arange(b * block, min((b + 1) * block, d_sae)) for b in todo])
        index, sums = streamed_units(self.adapter, self.sae, self.tokens, ids, **self.options)
        self.quick.update({u: (index, sums, i) for i, u in enumerate(ids.tolist())})  # one store: all or none

    def column(self, unit: int) -> tuple[ActivationIndex, int]:
        self.prepare([unit])
        index, _, offset = self.quick[unit]
        return index, offset

    def build_bytes(self) -> int:
        """What the complete index's in-memory build would hold at its peak, from the nonzeros per
        latent of the blocks encoded so far (:data:`BUILD_BYTES_PER_NONZERO`), 0 before any."""
        blocks = {id(index): index for index, _, _ in self.quick.values()}
        if not blocks:
            return 0
        per_unit = sum(int(i.positions.numel()) for i in blocks.values()) / len(self.quick)
        return int(per_unit * self.sae.d_sae * BUILD_BYTES_PER_NONZERO + 8 * self.tokens.numel())

    def kept_inputs(self) -> Tensor | None:
        return None

    def neurons(self, unit: int, positions: Tensor, values: Tensor, k: int) -> Correlated | None:
        del positions, values  # the block's streamed sums hold them
        self.prepare([unit])
        _, sums, offset = self.quick[unit]
        return None if sums is None else sums.correlated(offset, k=k)


class BuildCancelled(KeyboardInterrupt):
    """Raised inside a background build at its next batch once it is cancelled (an interrupt:
    a store's build commits the chunks it holds)."""


class _CancellableAdapter:
    """The model adapter of a background build: its dataset batches stop once ``cancel`` is set."""

    def __init__(self, adapter: ModelAdapter, cancel: threading.Event) -> None:
        self._adapter, self._cancel = adapter, cancel
        self.tokens_done = 0  # tokens of the dataset batches run so far (the build's progress)

    def capture_dataset(self, tokens: Tensor, hook_names: Any) -> dict[str, Tensor]:
        if self._cancel.is_set():
            raise BuildCancelled("featurecard: the background index build was cancelled")
        out = self._adapter.capture_dataset(tokens, hook_names)
        self.tokens_done += tokens.numel()
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


class BuildProgress(NamedTuple):
    tokens_done: int
    total_tokens: int
    seconds: float


class BackgroundBuildError(RuntimeError):
    """What a call that needs the complete index raises when its background build failed."""


# Builds running per model: a new Workspace on the model cancels its predecessors'.
_RUNNING: weakref.WeakKeyDictionary[Any, set[BackgroundBuild]] = weakref.WeakKeyDictionary()
_RUNNING_LOCK = threading.Lock()


class BackgroundBuild:
    """The complete index of the sources ``names``, computed by ``run`` in a daemon thread.

    ``run(adapter)`` must only read the Workspace (its result is taken by the Workspace);
    ``adapter`` is the Workspace's, stopping at its next batch once :meth:`cancel` is called."""

    def __init__(
        self, adapter: ModelAdapter, names: Iterable[str], run: Callable[[ModelAdapter], PassResult], total_tokens: int
    ) -> None:
        self.names = tuple(names)
        self.model = adapter.model
        self._cancel = threading.Event()
        self.done = threading.Event()
        self.result: PassResult | None = None
        self.error: BaseException | None = None
        self._proxy = _CancellableAdapter(adapter, self._cancel)
        self.total_tokens, self.started = total_tokens, time.monotonic()
        self.thread = threading.Thread(target=self._run, args=(run, cast("ModelAdapter", self._proxy)), daemon=True,
                                       name=f"featurecard: indexing {', '.join(self.names)}")  # fmt: skip
        with _RUNNING_LOCK:
            _RUNNING.setdefault(self.model, set()).add(self)
        self.thread.start()

    def _run(self, run: Callable[[ModelAdapter], PassResult], adapter: ModelAdapter) -> None:
        try:
            self.result = run(adapter)
        except BaseException as e:  # reported, and raised where the index is needed
            self.error = e
            if not self._cancel.is_set():
                warnings.warn(f"featurecard: the background build of the index of {', '.join(self.names)} "
                              f"failed ({type(e).__name__}: {e}); the next call that needs it runs it again",
                              RuntimeWarning, stacklevel=1)  # fmt: skip
        finally:
            with _RUNNING_LOCK:
                _RUNNING.get(self.model, set()).discard(self)
            self.done.set()

    def progress(self) -> BuildProgress:
        """Tokens run so far (of ``total_tokens``: one pass over the dataset) and seconds since the start."""
        return BuildProgress(min(self._proxy.tokens_done, self.total_tokens), self.total_tokens,
                             time.monotonic() - self.started)  # fmt: skip

    @property
    def failed(self) -> bool:
        return self.done.is_set() and self.error is not None

    def cancel(self) -> None:
        """Stop at the next batch (the result is then an error: the index is built again when needed)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> PassResult:
        """The result, once finished; :class:`BackgroundBuildError` naming the cause if the build failed,
        TimeoutError after ``timeout`` seconds. Ctrl-C while waiting cancels the build."""
        try:
            finished = self.done.wait(timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise
        if not finished:
            raise TimeoutError(f"the index of {', '.join(self.names)} is still being built after {timeout} s")
        if self.error is not None:
            what = f"{type(self.error).__name__}: {self.error}"
            raise BackgroundBuildError(f"the background build of the index of {', '.join(self.names)} failed ({what})")
        assert self.result is not None
        return self.result


def cancel_builds(model: Any, keep: Iterable[BackgroundBuild] = ()) -> None:
    """Cancel the background builds running on ``model``, but ``keep``."""
    with _RUNNING_LOCK:
        running = set(_RUNNING.get(model, set())) - set(keep)
    for build in running:
        build.cancel()


class Builds:
    """A Workspace's background builds, by source name, until it takes their results."""

    def __init__(self) -> None:
        self.by_name: dict[str, BackgroundBuild] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def start(
        self, adapter: ModelAdapter, todo: Iterable[str], run: Callable[[ModelAdapter], PassResult], total_tokens: int
    ) -> None:
        """Build ``todo`` with ``run`` in the background (unless :data:`BACKGROUND` is off)."""
        names = [n for n in todo if n not in self.by_name]
        if BACKGROUND and names:
            self.by_name.update(dict.fromkeys(names, BackgroundBuild(adapter, names, run, total_tokens)))

    def progress(self, name: str) -> BuildProgress | None:
        """How far the background build of ``name`` is (None: none is running)."""
        build = self.by_name.get(name)
        return None if build is None or build.done.is_set() else build.progress()

    def wait(self, name: str, lock: threading.RLock) -> None:
        """Wait for the build of ``name`` if there is one (hold no lock the Workspace's cards
        need). One that failed is forgotten (the next call runs it again) and raised; one
        cancelled is only forgotten."""
        build = self.by_name.get(name)
        if build is None:
            return
        try:
            build.wait()
        except BackgroundBuildError:
            with lock:
                self.forget(build.names, build)
            if not isinstance(build.error, BuildCancelled):
                raise

    def finished(self) -> list[PassResult]:
        """The results of the builds that finished well (forget them once taken)."""
        done = {b for b in self.by_name.values() if b.done.is_set() and b.error is None}
        return [b.wait() for b in done]

    def forget(self, names: Iterable[str], build: BackgroundBuild | None = None) -> None:
        for n in names:
            if n in self.by_name and (build is None or self.by_name[n] is build):
                del self.by_name[n]

    def cancel(self) -> None:
        for build in set(self.by_name.values()):
            build.cancel()


def kept_capture(
    adapter: ModelAdapter,
    hooks: dict[str, int],
    tokens: Tensor,
    has_final: bool,
    options: dict[str, Any],
    groups: Iterable[quick_cards.PassGroup] = (),
) -> tuple[quick_cards.Capture, Tensor | None, final_rows.FinalRows | None]:
    """One capture pass keeping ``hooks`` (name -> vector size) for quick cards, and what their
    hover effects read where the Workspace has nothing yet (``has_final``): the final
    residual, or rows that resume from the SAEs' last block (:func:`~featurecard.card.final_rows.resid_to_keep`)."""
    keep_resid = None if has_final else final_rows.resid_to_keep(adapter, hooks, tokens.numel())
    cap = quick_cards.capture_pass(adapter, hooks, tokens, keep_resid=keep_resid, groups=groups, **options)
    final_resid, rows = None, None
    if keep_resid == adapter.final_resid_hook:
        final_resid = cap.resid
    elif keep_resid is not None and cap.resid is not None:
        rows = final_rows.FinalRows(adapter, cap.resid, keep_resid, int(options["batch_size"]))
    cap.resid = None  # handed over (FinalRows rewrites its rows in place)
    return cap, final_resid, rows


def stage_plan(
    todo: dict[str, SparseAutoencoder], capture: quick_cards.Capture | None, n_positions: int
) -> dict[str, SparseAutoencoder] | None:
    """The sources of ``todo`` whose inputs a quick card's capture pass must keep, or None where
    they cannot be staged: a TopK SAE, or inputs over :data:`~featurecard.card.quick_cards.CAPTURE_BUDGET`."""
    if not all(s.columnwise for s in todo.values()):
        return None
    have = capture.inputs if capture is not None else {}
    missing = {n: s for n, s in todo.items() if s.hook_name not in have}
    held = sum(x.numel() * x.element_size() for x in have.values())
    if held + quick_cards.capture_bytes(missing, n_positions) > quick_cards.CAPTURE_BUDGET:
        return None
    return missing
