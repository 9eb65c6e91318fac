"""The SAE protocol: one plain object for every sparse autoencoder we accept.

Users hand us a SAELens ``SAE`` (any architecture), a path to a SAELens folder
(``cfg.json`` + ``sae_weights.safetensors``), or a mapping with ``W_enc, b_enc, W_dec, b_dec``
and ``hook_name`` (optionally ``threshold`` for JumpReLU, ``k`` for TopK). ``core.sae_input.as_sae`` turns each
into a :class:`SparseAutoencoder` that holds references to the weights (detached, never
modified: we do not fold norms into the caller's SAE in place, as SAEDashboard does).

``SparseAutoencoder.encode`` reproduces SAELens 6's ``encode`` for the standard (ReLU), TopK,
JumpReLU and gated architectures with its options ``apply_b_dec_to_input``,
``normalize_activations`` (``none``, ``expected_average_only_in`` — a no-op at inference —,
``constant_norm_rescale``, ``layer_norm``) and TopK's ``rescale_acts_by_decoder_norm``.
It is tested against SAELens's own ``encode``. SAELens folders are read and written by
:mod:`featurecard.core.saelens_folder`, with safetensors alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

import torch
from jaxtyping import Float
from torch import Tensor

Architecture = Literal["standard", "topk", "jumprelu", "gated"]
ARCHITECTURES: tuple[str, ...] = ("standard", "topk", "jumprelu", "gated")
NORMALIZATIONS: tuple[str, ...] = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")


class SAEError(ValueError):
    """An SAE we cannot read or use, with what was wrong and what is accepted."""


@dataclass(eq=False)
class SparseAutoencoder:
    """A sparse autoencoder as plain tensors, in SAELens's conventions.

    ``W_enc`` is ``[d_in, d_sae]`` and ``W_dec`` is ``[d_sae, d_in]``.
    """

    W_enc: Float[Tensor, "d_in d_sae"]
    b_enc: Float[Tensor, " d_sae"]
    W_dec: Float[Tensor, "d_sae d_in"]
    b_dec: Float[Tensor, " d_in"]
    hook_name: str
    architecture: Architecture = "standard"
    k: int | None = None
    threshold: Float[Tensor, " d_sae"] | None = None
    b_gate: Float[Tensor, " d_sae"] | None = None
    r_mag: Float[Tensor, " d_sae"] | None = None
    b_mag: Float[Tensor, " d_sae"] | None = None
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    rescale_acts_by_decoder_norm: bool = False
    hook_head_index: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validate()
        # Subtracting an all-zero b_dec changes no bit (x - 0 is x): skipped, one copy of the input fewer.
        self._subtract_b_dec = self.apply_b_dec_to_input and bool(self.b_dec.any())

    # -- shape facts -------------------------------------------------------------------
    @property
    def d_in(self) -> int:
        return int(self.W_enc.shape[0])

    @property
    def d_sae(self) -> int:
        return int(self.W_enc.shape[1])

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> SparseAutoencoder:
        """A copy on another device or dtype (the original is left as it was)."""

        def move(t: Tensor) -> Tensor:
            return t.to(device=device, dtype=dtype)

        def move_opt(t: Tensor | None) -> Tensor | None:
            return None if t is None else move(t)

        return replace(
            self,
            W_enc=move(self.W_enc),
            b_enc=move(self.b_enc),
            W_dec=move(self.W_dec),
            b_dec=move(self.b_dec),
            threshold=move_opt(self.threshold),
            b_gate=move_opt(self.b_gate),
            r_mag=move_opt(self.r_mag),
            b_mag=move_opt(self.b_mag),
        )

    # -- the maths -----------------------------------------------------------------------
    def preprocess(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_in"]:
        """SAELens's ``process_sae_in``: run-time normalisation, then subtract ``b_dec``."""
        x = x.to(self.dtype)
        if self.normalize_activations == "constant_norm_rescale":
            x = x * (self.d_in**0.5) / x.norm(dim=-1, keepdim=True)
        elif self.normalize_activations == "layer_norm":
            x = x - x.mean(dim=-1, keepdim=True)
            x = x / (x.std(dim=-1, keepdim=True) + 1e-5)
        if self._subtract_b_dec:
            x = x - self.b_dec
        return x

    def encode(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_sae"]:
        """Latent activations, exactly as SAELens's ``encode`` computes them."""
        sae_in = self.preprocess(x)
        if self.architecture == "gated":
            assert self.b_gate is not None and self.r_mag is not None and self.b_mag is not None
            active = (sae_in @ self.W_enc + self.b_gate > 0).to(sae_in.dtype)
            magnitude = torch.relu(sae_in @ (self.W_enc * self.r_mag.exp()) + self.b_mag)
            return active * magnitude
        pre = sae_in @ self.W_enc
        pre += self.b_enc  # in place: the same sum as SAELens's, one pass fewer over [n, d_sae]
        if self.architecture == "standard":
            return pre.relu_()
        if self.architecture == "jumprelu":
            assert self.threshold is not None
            return torch.relu(pre) * (pre > self.threshold).to(pre.dtype)
        # topk
        assert self.k is not None
        if self.rescale_acts_by_decoder_norm:
            pre = pre * self.W_dec.norm(dim=-1)
        values, indices = pre.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter(-1, indices, values.relu())

    @property
    def columnwise(self) -> bool:
        """Whether each latent depends on the input alone (not TopK, which ranks all latents)."""
        return self.architecture != "topk"

    def encode_units(self, sae_in: Float[Tensor, "n d_in"], units: slice | Tensor) -> Float[Tensor, "n units"]:
        """Latents ``units`` (a slice, or latent ids) of ``encode`` from an already preprocessed input.

        Only for :attr:`columnwise` SAEs. A latent's numbers depend on which latents it is
        encoded with (the matmul's shape picks its summation order), so the staged index
        always encodes a latent with the same companions (see :mod:`featurecard.card.quick_cards`).
        """
        if not self.columnwise:
            raise SAEError(f"a {self.architecture} SAE ranks all latents together; encode them with encode()")
        if self.architecture == "gated":
            assert self.b_gate is not None and self.r_mag is not None and self.b_mag is not None
            w = self.W_enc[:, units]
            active = (sae_in @ w + self.b_gate[units] > 0).to(sae_in.dtype)
            return active * torch.relu(sae_in @ (w * self.r_mag[units].exp()) + self.b_mag[units])
        pre = sae_in @ self.W_enc[:, units]
        pre += self.b_enc[units]
        if self.architecture == "standard":
            return pre.relu_()
        assert self.threshold is not None
        return torch.relu(pre) * (pre > self.threshold[units]).to(pre.dtype)

    def decoder_rows(self) -> Float[Tensor, "d_sae d_in"]:
        """What one unit of each latent's activation adds to the SAE's output.

        With ``rescale_acts_by_decoder_norm`` the decoder divides activations by the row norms,
        so the effective rows are unit vectors. Run-time input normalisation
        (``constant_norm_rescale``, ``layer_norm``) further scales the output per token by the
        input's own norm; directions are unchanged by it.
        """
        if self.rescale_acts_by_decoder_norm:
            return cast("Tensor", self.W_dec / self.W_dec.norm(dim=-1, keepdim=True))
        return self.W_dec

    def decode(self, f: Float[Tensor, "*batch d_sae"]) -> Float[Tensor, "*batch d_in"]:
        """The reconstruction (before any run-time de-normalisation)."""
        return f.to(self.dtype) @ self.decoder_rows() + self.b_dec

    @property
    def rescales_output(self) -> bool:
        """Whether the output is de-normalised per token (see :meth:`output_scale`)."""
        return self.normalize_activations in ("constant_norm_rescale", "layer_norm")

    def output_scale(self, x: Float[Tensor, "*batch d_in"]) -> tuple[Float[Tensor, "*batch 1"], Tensor]:
        """``(s [*batch, 1], o [*batch, 1])`` with the reconstruction in the hook's (model)
        space equal to ``s · decode(f) + o``, as SAELens 6's ``run_time_activation_norm_fn_out``
        de-normalises it: ``constant_norm_rescale`` divides by the input's coefficient
        ``sqrt(d_in) / ‖x‖`` (``s = 1 / coeff``, ``o = 0``); ``layer_norm`` multiplies by the
        centred input's standard deviation **without** the ``eps`` its input side adds, and
        adds the mean back (``s = std(x)``, ``o = mean(x)``); otherwise ``s = 1``, ``o = 0``.
        So a latent's write in model space is ``s · a · decoder_rows()[f]``, never
        ``a · W_dec[f]`` alone (tested against SAELens's ``decode``)."""
        x = x.to(self.dtype)
        if self.normalize_activations == "constant_norm_rescale":
            coeff = (self.d_in**0.5) / x.norm(dim=-1, keepdim=True)
            return 1.0 / coeff, torch.zeros_like(coeff)
        if self.normalize_activations == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            return (x - mu).std(dim=-1, keepdim=True), mu
        return torch.ones_like(x[..., :1]), torch.zeros_like(x[..., :1])

    # -- checks --------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise SAEError(f"SAE architecture {self.architecture!r} is not supported; accepted: {ARCHITECTURES}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise SAEError(
                f"normalize_activations={self.normalize_activations!r} is not supported; accepted: {NORMALIZATIONS}"
            )
        if self.W_enc.ndim != 2:
            raise SAEError(f"W_enc must be 2-D [d_in, d_sae]; got shape {tuple(self.W_enc.shape)}")
        d_in, d_sae = self.W_enc.shape
        expected = {"b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise SAEError(f"{name} has shape {got}; with W_enc of shape {(d_in, d_sae)} it must be {shape}")
        if self.architecture == "topk" and (self.k is None or not 0 < self.k <= d_sae):
            raise SAEError(f"a TopK SAE needs k in [1, {d_sae}]; got k={self.k!r}")
        if self.architecture == "jumprelu" and (self.threshold is None or tuple(self.threshold.shape) != (d_sae,)):
            raise SAEError(f"a JumpReLU SAE needs threshold of shape ({d_sae},)")
        if self.architecture == "gated" and any(t is None for t in (self.b_gate, self.r_mag, self.b_mag)):
            raise SAEError("a gated SAE needs b_gate, r_mag and b_mag")
        if not isinstance(self.hook_name, str) or not self.hook_name:
            raise SAEError(
                f"the SAE needs a hook name (a string such as 'blocks.0.mlp.hook_post'); got {self.hook_name!r}"
            )


def _t(x: object) -> Tensor:
    return x.detach() if isinstance(x, Tensor) else torch.as_tensor(x)


def _from_mapping(m: Mapping[str, Any], hook_name: str | None) -> SparseAutoencoder:
    missing = [k for k in ("W_enc", "W_dec", "b_dec") if k not in m]
    if "b_enc" not in m and "b_gate" not in m:
        missing.append("b_enc")
    if missing:
        raise SAEError(f"SAE mapping lacks {missing}; it needs W_enc, b_enc, W_dec, b_dec (and hook_name)")
    name = hook_name or m.get("hook_name")
    arch = m.get("architecture")
    if arch is None:
        arch = "topk" if m.get("k") is not None else "jumprelu" if m.get("threshold") is not None else "standard"
        arch = "gated" if "b_gate" in m else arch
    w_enc = _t(m["W_enc"])
    b_enc = _t(m["b_enc"]) if "b_enc" in m else torch.zeros(w_enc.shape[-1], dtype=w_enc.dtype)

    def opt(k: str) -> Tensor | None:
        return _t(m[k]) if m.get(k) is not None else None

    if arch not in ARCHITECTURES:
        raise SAEError(f"SAE architecture {arch!r} is not supported; accepted: {ARCHITECTURES}")
    return SparseAutoencoder(
        W_enc=w_enc,
        b_enc=b_enc,
        W_dec=_t(m["W_dec"]),
        b_dec=_t(m["b_dec"]),
        hook_name=str(name) if name else "",
        architecture=cast("Architecture", arch),
        k=int(m["k"]) if m.get("k") is not None else None,
        apply_b_dec_to_input=bool(m.get("apply_b_dec_to_input", True)),
        normalize_activations=str(m.get("normalize_activations", "none")),
        rescale_acts_by_decoder_norm=bool(m.get("rescale_acts_by_decoder_norm", False)),
        threshold=opt("threshold"),
        b_gate=opt("b_gate"),
        r_mag=opt("r_mag"),
        b_mag=opt("b_mag"),
    )


def _saelens_hook_name(cfg: Any) -> str | None:
    meta = getattr(cfg, "metadata", None)
    name = getattr(meta, "hook_name", None) if meta is not None else None
    return name or getattr(cfg, "hook_name", None)


def _from_saelens_object(sae: Any, hook_name: str | None) -> SparseAutoencoder:
    cfg = sae.cfg
    arch_fn = getattr(cfg, "architecture", None)
    arch = arch_fn() if callable(arch_fn) else arch_fn
    if arch not in ARCHITECTURES:
        raise SAEError(f"SAELens architecture {arch!r} is not supported; accepted: {ARCHITECTURES}")
    if getattr(cfg, "reshape_activations", "none") not in ("none", "hook_z", None):
        raise SAEError(f"reshape_activations={cfg.reshape_activations!r} is not supported; accepted: none, hook_z")
    weights = {
        n: getattr(sae, n, None) for n in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold", "b_gate", "r_mag", "b_mag")
    }
    meta = getattr(cfg, "metadata", None)
    if meta is not None and getattr(meta, "hook_head_index", None) is not None:
        raise SAEError(f"SAEs on a single head (hook_head_index={meta.hook_head_index}) are not supported yet")
    return _from_mapping(
        {
            **{k: v for k, v in weights.items() if v is not None},
            "architecture": arch,
            "k": getattr(cfg, "k", None),
            "hook_name": hook_name or _saelens_hook_name(cfg),
            "apply_b_dec_to_input": getattr(cfg, "apply_b_dec_to_input", True),
            "normalize_activations": getattr(cfg, "normalize_activations", "none"),
            "rescale_acts_by_decoder_norm": getattr(cfg, "rescale_acts_by_decoder_norm", False),
        },
        hook_name,
    )


def identity_sae(
    hook_name: str, d_in: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> SparseAutoencoder:
    """The neurons of a hook as 'latents': encode is the identity, each decoder row a basis vector.

    Lets a plain MLP neuron use the same index and card as an SAE latent.
    """
    eye = torch.eye(d_in, device=device, dtype=dtype)
    zeros = torch.zeros(d_in, device=device, dtype=dtype)
    return _IdentitySAE(W_enc=eye, b_enc=zeros, W_dec=eye, b_dec=zeros, hook_name=hook_name, apply_b_dec_to_input=False)


class _IdentitySAE(SparseAutoencoder):
    def encode(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_sae"]:
        return x.to(self.dtype)

    def encode_units(self, sae_in: Float[Tensor, "n d_in"], units: slice | Tensor) -> Float[Tensor, "n units"]:
        return sae_in[:, units].to(self.dtype)


def is_neuron_basis(sae: SparseAutoencoder) -> bool:
    return isinstance(sae, _IdentitySAE)


def describe(sae: SparseAutoencoder) -> str:
    extra = f", k={sae.k}" if sae.k is not None else ""
    return f"{sae.architecture} SAE {sae.d_in}->{sae.d_sae}{extra} on {sae.hook_name}"


__all__ = [
    "ARCHITECTURES",
    "SAEError",
    "SparseAutoencoder",
    "describe",
    "identity_sae",
    "is_neuron_basis",
]
