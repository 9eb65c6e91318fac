"""The NodeTable's versioned payload, and its builder from plain arrays (no torch here).

Every key here is mirrored one-to-one by ``js/src/nodes/schema.ts`` (checked by
``tests/unit/test_schema_sync.py``); it carries the one ``SCHEMA_VERSION`` of ``core/schema.py``
and ``kind: "node_table"``. Numbers travel as typed binary arrays: a row is a
node key (family, layer, unit, position, source position) in ``int32``/``uint8`` arrays, its
values ``float32 [n_prompts, n_groups, n_rows]`` and its activation profile over the prompt's
positions ``float32 [n_prompts, n_rows, n_pos]`` (for attention: the head's attention from the
row's query position to every source). Only the prompts' own tokens and the few predicted
tokens travel as text, in a small local ``vocab`` (``core/vocab.py``, as for every view).

Size: with the defaults (k = 10, four groups, two of them signed) a table has at most 60 rows
per prompt; for a 128-token prompt that is about 33 kB of profiles and 1 kB of values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict, cast

import numpy as np

from ..core.codecs import encode_array
from ..core.schema import SCHEMA_VERSION, ArrayPayload, TokenBytes
from ..core.vocab import BytesOf, LocalVocab, local_vocab

GROUP_INFO: dict[str, tuple[str, str]] = {
    "write_norm": ("Write magnitude", "norm of the node's write to the residual stream"),
    "act_times_grad": ("Est. total effect", "activation × gradient of the target (first-order total effect)"),
    "direct_effect": (
        "Direct effect",
        "the node's write projected on the target's gradient at the residual stream where the target reads it "
        "(the final residual for a token)",
    ),
    "activation": (
        "Activation",
        "neuron or latent activation; attention probability for heads; the norm of an SAE's error; "
        "blank for heads summed over sources and whole layers",
    ),
}


class NodeFamily(TypedDict):
    """A node type: MLP neurons, attention heads (per token pair), one SAE's latents or its error,
    or a roll-up (heads summed over sources, whole attention / MLP layers; ranked apart)."""

    code: int  # the value of NodeRows.family for its rows
    kind: Literal["mlp", "attn", "sae", "error", "head", "attn_layer", "mlp_layer"]
    name: str  # "mlp", "attn", the SAE's name, that name + " error", "heads", "attn layer", "mlp layer"
    hook: str  # the SAE's hook; for the others a template with {layer}
    n_units: int
    card: bool  # whether its nodes open a FeatureCard
    sae: str  # the SAE's name in the Workspace (sae and error families), else ""


class NodePrompt(TypedDict):
    """One prompt of the table (two in side-by-side mode: Left, Right)."""

    label: str
    tokens: ArrayPayload  # uint [n_pos], the prompt's tokens as indices into NodeTableState.vocab
    target: float  # the target's value, with the ablations in place
    clean_target: float  # the target's value without the ablations
    predictions: ArrayPayload  # uint [n_predictions], the most likely next tokens at the target position (vocab)
    prediction_probs: ArrayPayload  # float32 [n_predictions]


class NodeSpecPayload(TypedDict):
    """A node of the model as a target (``fc.node``; nodes/node_spec.py): every key, None where the
    kind has none."""

    kind: Literal["neuron", "latent", "error", "attn", "write"]
    pos: int
    layer: int | None
    unit: int | None
    head: int | None
    src: int | None
    source: str | None  # the SAE's name (latent, error)
    write_kind: Literal["attn", "mlp", "block"] | None
    direction: list[float] | None  # [d_model] (write); None in a roll-up row's trace request: the kernel
    # fills in the shown target's gradient at that write
    label: str | None  # what the direction is (write), "" when it is the user's


class NodeTarget(TypedDict):
    """What the gradients are of: a token's logit / log-probability / loss, or a node."""

    kind: Literal["logit_diff", "logprob", "loss", "node"]
    position: int  # the position whose prediction is the target; a node's own position
    token: str | None
    distractor: str | None
    description: str
    node: NodeSpecPayload | None  # the node (kind "node")
    side: Literal["total", "query", "key", "value"]  # the attention side the gradients go through


class NodeGroup(TypedDict):
    """A column: one derived scalar comparable across node types."""

    name: str
    label: str
    signed: bool  # bottom-k rows were selected too
    help: str


class NodeRows(TypedDict):
    """The rows (nodes) of the table, in Python's deterministic union order."""

    family: ArrayPayload  # uint8 [n], NodeFamily.code
    layer: ArrayPayload  # int32 [n], -1 for nodes outside blocks
    unit: ArrayPayload  # int32 [n], neuron / head / latent index
    pos: ArrayPayload  # int32 [n], position (the query position for attention)
    src: ArrayPayload  # int32 [n], the attended-to position for attention, else -1
    values: ArrayPayload  # float32 [n_prompts, n_groups, n], NaN where undefined
    profiles: ArrayPayload  # float32 [n_prompts, n, n_pos]


class NodeDynamics(TypedDict):
    """The rows' token dynamics (nodes/dynamics.py): ids are indices into NodeTableState.vocab,
    -1 where the row has none (no write; no token read)."""

    k: int
    promote_ids: ArrayPayload  # int32 [n_prompts, n, k], the tokens the row's write raises most
    promote_values: ArrayPayload  # float32 [n_prompts, n, k], their logit change, largest first
    suppress_ids: ArrayPayload  # int32 [n_prompts, n, k]
    suppress_values: ArrayPayload  # float32 [n_prompts, n, k], most negative first
    read_ids: ArrayPayload  # int32 [n, k], neurons and latents: the tokens whose embeddings raise it most
    read_values: ArrayPayload  # float32 [n, k]
    read_notes: list[str]  # [n] what the read goes through, or why there is none; "" for other rows


class NodeAblation(TypedDict):
    """An ablation in place (applied to every prompt)."""

    family: str  # "mlp", "attn" or an SAE's name
    layer: int
    unit: int
    pos: int
    mode: Literal["zero", "mean"]


class NodeTableState(TypedDict):
    """Everything the table needs to redraw without a kernel."""

    schema_version: int
    kind: Literal["node_table"]
    vocab: list[str]  # the texts of the tokens shown (prompts and predictions), see core/vocab.py
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text
    prompts: list[NodePrompt]
    target: NodeTarget
    groups: list[NodeGroup]
    families: list[NodeFamily]
    rows: NodeRows
    dynamics: NodeDynamics | None  # None: not computed
    sort_by: str  # the group the table is first sorted by (descending)
    k: int
    ablations: list[NodeAblation]
    notes: list[str]  # how the numbers were made, where it deviates from the default


class TraceStep(TypedDict):
    """A target the table has shown: the first is the table's own, the last the one shown now."""

    description: str  # NodeTarget.description
    node: NodeSpecPayload | None  # None: the table's own token target
    side: Literal["total", "query", "key", "value"]
    position: int


def trace_step(target: NodeTarget) -> TraceStep:
    """The breadcrumb entry of a table's target."""
    return {
        "description": target["description"],
        "node": target["node"],
        "side": target["side"],
        "position": target["position"],
    }


# The synced traitlets of the NodeTable widget, mirrored by `NodesModel` in js/src/nodes/schema.ts.
NODE_TABLE_TRAITS: dict[str, str] = {
    "state": "NodeTableState | {}: the last good table",
    "position": "int: the target position; the kernel sets it ('position' request)",
    "selected": "{family, layer, unit} | {}: the node whose card is open; the kernel sets it ('select' request)",
    "card": "FeatureCardState | {}: the open node's card",
    "ablations": "list[NodeAblation]: ablations in place; the front end adds and removes them",
    "trail": "list[TraceStep]: the targets followed ('trace' / 'back' requests), the table's own first",
    "error": "str: why the last request failed ('' when it did not); the last good state stays",
    "busy": "bool: a computation is running",
}


_SPEC_KEYS = ("layer", "unit", "head", "src", "source", "write_kind", "direction", "label")


def node_spec_payload(d: Mapping[str, object]) -> NodeSpecPayload:
    """A node spec's ``as_dict()`` with every key of :class:`NodeSpecPayload`."""
    out = {"kind": d["kind"], "pos": d["pos"], **{k: d.get(k) for k in _SPEC_KEYS}}
    return cast("NodeSpecPayload", out)


@dataclass(frozen=True)
class PromptData:
    label: str
    token_ids: np.ndarray  # int [n_pos], the model's token ids
    target: float
    clean_target: float
    prediction_ids: np.ndarray  # int [n_predictions]
    prediction_probs: np.ndarray


def build_node_table_state(
    *,
    prompts: Sequence[PromptData],
    target: NodeTarget,
    groups: Sequence[str],
    signed: frozenset[str],
    families: Sequence[NodeFamily],
    keys: dict[str, np.ndarray],
    values: np.ndarray,
    profiles: np.ndarray,
    k: int,
    ablations: Sequence[NodeAblation],
    notes: Sequence[str],
    token_bytes: BytesOf,
    sort_by: str = "direct_effect",
    dynamics: RowDynamicsData | None = None,
) -> NodeTableState:
    """The payload; ``keys`` holds ``family, layer, unit, pos, src`` arrays of the rows;
    ``token_bytes``: token ids -> raw bytes (:class:`featurecard.core.token_bytes.TokenBytes`)."""
    n = int(values.shape[-1])
    if values.shape != (len(prompts), len(groups), n) or profiles.shape[:2] != (len(prompts), n):
        raise ValueError(
            f"values {values.shape} / profiles {profiles.shape} do not fit {len(prompts)} prompts, "
            f"{len(groups)} groups and {n} rows"
        )
    rows: NodeRows = {
        "family": encode_array(keys["family"], "uint8"),
        "layer": encode_array(keys["layer"], "int32"),
        "unit": encode_array(keys["unit"], "int32"),
        "pos": encode_array(keys["pos"], "int32"),
        "src": encode_array(keys["src"], "int32"),
        "values": encode_array(values, "float32"),
        "profiles": encode_array(profiles, "float32"),
    }
    dyn_ids = [] if dynamics is None else [dynamics.ids[dynamics.ids >= 0]]
    vocab = local_vocab([*(x for p in prompts for x in (p.token_ids, p.prediction_ids)), *dyn_ids], token_bytes)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "node_table",
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
        "prompts": [_prompt(p, vocab, 2 * b) for b, p in enumerate(prompts)],
        "target": target,
        "groups": [
            {"name": g, "label": GROUP_INFO[g][0], "signed": g in signed, "help": GROUP_INFO[g][1]} for g in groups
        ],
        "families": list(families),
        "rows": rows,
        "dynamics": None if dynamics is None else _dynamics(dynamics, vocab.local[-1], n),
        "sort_by": sort_by if sort_by in groups else groups[0],
        "k": int(k),
        "ablations": list(ablations),
        "notes": list(notes),
    }


@dataclass(frozen=True)
class RowDynamicsData:
    """The rows' token dynamics as model token ids (nodes/dynamics.py's RowDynamics, torch-free)."""

    ids: np.ndarray  # int [3, ...]: promote, suppress [n_prompts, n, k] and read [n, k] stacked: see of()
    promote_values: np.ndarray
    suppress_values: np.ndarray
    read_values: np.ndarray
    read_notes: list[str]
    n_prompts: int

    @staticmethod
    def of(promote_ids: np.ndarray, suppress_ids: np.ndarray, read_ids: np.ndarray, **rest: object) -> RowDynamicsData:
        ids = np.concatenate([promote_ids.reshape(-1), suppress_ids.reshape(-1), read_ids.reshape(-1)])
        return RowDynamicsData(ids=ids, n_prompts=int(promote_ids.shape[0]), **rest)  # type: ignore[arg-type]


def _dynamics(d: RowDynamicsData, local: np.ndarray, n: int) -> NodeDynamics:
    """The payload block; ``local`` holds the vocab indices of ``d.ids``'s valid entries, in order."""
    idx = np.full(d.ids.shape, -1, np.int64)
    idx[d.ids >= 0] = local
    b, k = d.n_prompts, int(d.read_values.shape[-1])
    m = b * n * k
    return {
        "k": k,
        "promote_ids": encode_array(idx[:m].reshape(b, n, k), "int32"),
        "promote_values": encode_array(d.promote_values, "float32"),
        "suppress_ids": encode_array(idx[m : 2 * m].reshape(b, n, k), "int32"),
        "suppress_values": encode_array(d.suppress_values, "float32"),
        "read_ids": encode_array(idx[2 * m :].reshape(n, k), "int32"),
        "read_values": encode_array(d.read_values, "float32"),
        "read_notes": list(d.read_notes),
    }


def _prompt(p: PromptData, vocab: LocalVocab, part: int) -> NodePrompt:
    """One prompt; its tokens are ``vocab``'s part ``part``, its predictions the next part."""
    return {
        "label": p.label,
        "tokens": vocab.indices(part),
        "target": float(p.target),
        "clean_target": float(p.clean_target),
        "predictions": vocab.indices(part + 1),
        "prediction_probs": encode_array(p.prediction_probs, "float32"),
    }
