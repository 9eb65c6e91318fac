"""The versioned payloads that travel from the kernel to the front end.

Every key here is mirrored one-to-one by ``js/src/core/schema.ts`` (``tests/test_schema_sync.py``
checks that they agree), and every view's payload carries the one ``SCHEMA_VERSION`` and its ``kind``: the front end
shows an error for a version or kind it does not know instead of drawing nothing.

Numbers travel as typed binary arrays (``ArrayPayload``), never as JSON lists; "uint" below
means the smallest of uint8, uint16, int32 that holds the values. In the live
widget ``buffer`` is ``bytes`` (ipywidgets moves it as a binary comm buffer; the front end
receives a ``DataView``); in an exported HTML file the same envelope holds the buffer as a
base64 string. Only the token strings a view shows travel, as a small local ``vocab`` list
that the integer arrays index into.

This module imports no torch: ``featurecard.core.codecs`` must import with torch blocked.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

# One version for every payload (card, graph, table): a front end checks it and the payload's
# ``kind``. 3: the graph and the table send their vocabulary as the card does (ids + bytes).
# 4: a card's examples carry DFA (``examples.dfa``) and a card its latent's label (``label``).
SCHEMA_VERSION = 4

DType = Literal["float32", "float16", "int32", "uint16", "uint8"]


class ArrayPayload(TypedDict):
    """A typed array: little-endian ``dtype`` values in row-major ``shape``."""

    dtype: DType
    shape: list[int]
    buffer: bytes | str  # bytes live; base64 str in an exported file


class ExampleGroup(TypedDict):
    """A titled run of consecutive example sequences (e.g. "Top activations")."""

    title: str
    count: int  # how many sequences, following the previous group's


class ExampleDfa(TypedDict):
    """Direct feature attribution of the first ``count`` example sequences (the top activations),
    for an SAE on an attention output: the latent's pre-activation at each one's own token, split
    over its source tokens (every head summed). ``Σ values + outside == pre − bias`` per example."""

    count: int  # how many sequences, from the first, have DFA
    values: ArrayPayload  # float32 [their n_tok], each shown token's DFA as a source (0 after the focus)
    outside: ArrayPayload  # float32 [count], the DFA of the sources before the shown window
    pre: ArrayPayload  # float32 [count], the pre-activation at the focus token
    bias: ArrayPayload  # float32 [count], its bias terms (no source carries them)


class Examples(TypedDict):
    """Ragged example sequences; sequence ``s`` is ``tokens[seq_offsets[s]:seq_offsets[s+1]]``."""

    groups: list[ExampleGroup]
    seq_offsets: ArrayPayload  # uint [n_seq + 1]
    tokens: ArrayPayload  # uint [n_tok], indices into FeatureCardState.vocab
    acts: ArrayPayload  # float32 [n_tok], the unit's activation at each shown token
    seq_batch: ArrayPayload  # uint [n_seq], dataset row of the sequence
    seq_pos0: ArrayPayload  # uint [n_seq], dataset position of the sequence's first shown token
    seq_focus: ArrayPayload  # uint [n_seq], index in the sequence of the token that selected it
    dfa: ExampleDfa | None  # None unless the SAE reads an attention output (see unavailable["dfa"])


class LogitTable(TypedDict):
    """Direct logit effect of the unit's output direction (through the unembedding)."""

    top_tokens: ArrayPayload  # uint [k], indices into vocab, largest first
    top_values: ArrayPayload  # float32 [k]
    bottom_tokens: ArrayPayload  # uint [k], indices into vocab, most negative first
    bottom_values: ArrayPayload  # float32 [k]
    vocab_values: ArrayPayload  # float16 [n_vocab], direct logit of every vocab entry (hover markers)


class Histogram(TypedDict):
    """Equal-width bins with a few round ticks."""

    edges: ArrayPayload  # float32 [n_bins + 1]
    counts: ArrayPayload  # uint [n_bins]
    ticks: ArrayPayload  # float32 [n_ticks], at most 6


class CorrelationTable(TypedDict):
    """The units most correlated (Pearson) with this one, with their cosine similarity."""

    ids: ArrayPayload  # int32 [k], unit indices
    pearson: ArrayPayload  # float32 [k]
    cosine: ArrayPayload  # float32 [k]


class AlignmentTable(TypedDict):
    """The input neurons the decoder direction weighs most (by |weight|)."""

    ids: ArrayPayload  # int32 [k], input neuron indices
    values: ArrayPayload  # float32 [k], decoder weights
    l1_share: ArrayPayload  # float32 [k], |weight| / sum of |weights|


class LeftPanels(TypedDict):
    alignment: AlignmentTable | None
    neurons: CorrelationTable | None  # correlated input neurons
    latents: CorrelationTable | None  # correlated latents of the same SAE (over all latents)
    latents_b: CorrelationTable | None  # correlated latents of encoder B


class TokenBytes(TypedDict):
    """Raw bytes of the vocab entries that are not whole UTF-8 text on their own.

    A byte-level BPE can cut a multi-byte character (``"é"`` = c3 a9) between two tokens;
    each piece alone decodes to U+FFFD. The front end decodes a sequence's bytes together,
    so the character shows once, on the token that completes it.
    """

    ids: ArrayPayload  # int32 [m], indices into vocab
    offsets: ArrayPayload  # int32 [m + 1], entry j's bytes are data[offsets[j]:offsets[j + 1]]
    data: ArrayPayload  # uint8 [n_bytes]


class Hover(TypedDict):
    """Exact next-token effects at every shown token where the unit is nonzero.

    Row ``h`` belongs to the shown token ``t`` with ``token_row[t] == h``; its ``loss_change``
    is drawn under the predicted (next) token, as in sae_vis. A shown token where the unit is
    silent has ``token_row[t] == n_hover`` (one past the last row), so the array is unsigned.
    Index arrays use the smallest unsigned dtype that holds them (uint8, uint16 or int32).
    """

    token_row: ArrayPayload  # uint [n_tok], row in the arrays below; n_hover where the unit is silent
    top_tokens: ArrayPayload  # uint [n_hover, k], vocab indices, log-prob most raised first
    top_values: ArrayPayload  # float16 [n_hover, k], change of log p
    bottom_tokens: ArrayPayload  # uint [n_hover, k], log-prob most lowered first
    bottom_values: ArrayPayload  # float16 [n_hover, k]
    loss_change: ArrayPayload  # float16 [n_hover], loss with the unit minus without (NaN at a row's end)


class CardPrompt(TypedDict):
    """The prompt a card was opened from (the prompt view, ``Workspace.prompt``), drawn above its
    examples with the unit's activation at each token. Its tokens index its own local ``vocab``
    (sent as a card sends its own: ids, text, bytes)."""

    text: str  # the prompt as given ('' when given as token ids)
    tokens: ArrayPayload  # uint [n], indices into vocab
    acts: ArrayPayload  # float32 [n], the unit's activation at each token (0 where the dataset leaves a token out: BOS)
    focus: int  # index of the token the card was opened from (-1: none)
    dfa: ArrayPayload | None  # float32 [focus + 1], DFA of the unit at focus to each source token (hook_z SAEs)
    vocab: list[str]  # the prompt's token strings, as text
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text


class FeatureCardState(TypedDict):
    """Everything one card needs to redraw without a kernel."""

    schema_version: int
    kind: Literal["feature_card"]
    source: str  # the SAE's name in the Workspace, or the hook name for neurons
    unit: Literal["latent", "neuron"]
    hook_name: str  # the model hook the unit reads
    feature: int  # the unit's index
    n_features: int  # valid indices are 0 .. n_features - 1
    n_tokens: int  # dataset tokens counted (BOS excluded by default)
    max_act: float
    density: float  # fraction of counted tokens where the unit is nonzero
    vocab: list[str]  # the token strings this card shows, as text
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text
    examples: Examples
    logits: LogitTable | None  # None when the hook has no linear path to the residual stream
    unavailable: dict[str, str]  # panel name -> why it cannot be shown for this unit
    pending: list[str]  # panels waiting for the complete index (their reason in unavailable)
    hover: Hover | None  # None when the hook has no linear path to the residual stream
    act_hist: Histogram  # over the unit's nonzero activations
    logit_hist: Histogram | None  # over the whole vocabulary
    left: LeftPanels
    label: str | None  # the latent's label ('' none yet); None where the card's host has no labels
    prompt: NotRequired[CardPrompt]  # only in a card opened from a prompt view


class Request(TypedDict):
    """A request from the front end to the kernel (a custom message), answered by one Reply."""

    kind: Literal["fc-request"]
    id: str
    name: str  # card: "show" | "search" | "random" | "complete" | "window"; graph and table: see their widgets
    args: dict[str, object]


class Reply(TypedDict, total=False):
    """The kernel's answer to the Request with the same id."""

    kind: Literal["fc-reply"]
    id: str
    ok: bool
    result: object  # when ok
    error: str  # when not ok: what went wrong, for the card's banner


class SearchHit(TypedDict):
    """One unit that fires on the searched text."""

    feature: int
    act: float  # its largest activation over the text's tokens
    frac: float  # act / the unit's max over the dataset (0 when the unit is dead there)
    pos: int  # position in the text's tokens where it peaks
    token: str  # that token's text


class SearchResult(TypedDict):
    """The answer to a "search" request: units most active on a typed string."""

    query: str
    source: str
    n_tokens: int  # tokens the text became (BOS not counted)
    hits: list[SearchHit]


class ExampleWindow(TypedDict):
    """The answer to a "window" request: ±20 tokens of one example's dataset row (the card's rows
    show ±5), with the unit's activation at each, recomputed from the model and the source. Its
    tokens index its own local ``vocab``, sent as a card sends its own (ids, text, bytes)."""

    source: str
    feature: int
    row: int  # dataset row
    start: int  # dataset position of tokens[0]
    focus: int  # index in tokens of the token the example was chosen for
    tokens: ArrayPayload  # uint [n], indices into vocab
    acts: ArrayPayload  # float32 [n], the unit's activation at each token (0 where the index leaves a token out: BOS)
    vocab: list[str]  # the window's token strings, as text
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text


class BuildProgress(TypedDict):
    """The card's ``build_progress`` while ``complete`` waits for the complete index's build."""

    done: int  # tokens run through the model
    total: int  # tokens in all (every dataset token, once per pass)
    seconds: float  # since the build began


# The synced traitlets of the FeatureCard widget, mirrored by `CardModel` in js/src/core/schema.ts.
FEATURE_CARD_TRAITS: dict[str, str] = {
    "source": "str: the SAE name (or 'name::B' for its encoder B) or hook name whose unit is shown",
    "feature": "int: the unit index; the kernel sets it ('show' request from the index box)",
    "state": "FeatureCardState | {}: the last good card",
    "error": "str: why the last request failed ('' when it did not); the last good state stays",
    "busy": "bool: a computation is running",
    "live": "bool: a kernel answers requests (search, random); False in an exported file",
    "choices": "list[int]: the only features this view can show (an exported file); [] for any",
    "build_progress": "{done, total, seconds} | None: the complete index's build while 'complete' waits",
}
