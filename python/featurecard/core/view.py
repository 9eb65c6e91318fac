"""The one base of the three widgets (FeatureCard, ContributionGraph, NodeTable), and their protocol.

A :class:`View` is an ``anywidget.AnyWidget`` that

- takes ``layout`` and its own keywords only (others are a TypeError naming them);
- holds the last good ``state``, ``error`` (why the last request failed, '' when it did not)
  and ``busy`` (True while a request computes);
- answers the front end's requests, one protocol on plain custom messages (so it works in any
  anywidget host, marimo included, without anywidget's experimental ``invoke``): the front end
  sends ``{kind: "fc-request", id, name, args}`` and gets exactly one
  ``{kind: "fc-reply", id, ok, result | error}``. A method marked ``@request("name")`` answers
  ``name`` with ``args`` as its keyword arguments (the style of anywidget's
  ``@experimental.command``). An unknown name is answered with an error naming the known ones;
  while a request runs ``busy`` is True; an exception is a reply with ``ok: false`` and sets
  ``error``, and the last good ``state`` (and open card) stay. A handler validates, computes,
  then sets its traits in one message (:meth:`View._settle`).

The front end never writes traits: they are state the kernel writes and the front end reads.
Python users still set them (``card.feature = 5``): a bad value raises a TraitError naming the
accepted range, and a failed computation sets ``error`` and keeps the last good state.

:class:`CardHost` adds what the ContributionGraph and the NodeTable share: the open ``card``
of a ``selected`` unit, opened through the view's session (the ``select`` request; ``{}``
closes it), and the open card's ``search``, ``random`` and ``window`` (an example row widened to
±20 tokens) requests, answered by the session's Workspace for that card's source as a
FeatureCard's kernel side answers them.
:func:`register_workspace` lets the Workspace module tell the card how to build the one-SAE
Workspace of ``FeatureCard(model, sae, tokens)`` without the card importing it.
"""

from __future__ import annotations

import contextlib
import inspect
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import anywidget
import traitlets

if TYPE_CHECKING:
    from torch import Tensor

    from .model import ModelAdapter
    from .sae import SparseAutoencoder
    from .schema import ExampleWindow, FeatureCardState, SearchResult

REQUEST = "fc-request"
REPLY = "fc-reply"
_MARK = "_featurecard_request"

F = TypeVar("F", bound=Callable[..., Any])


class UnitCounts(Protocol):
    """What a random pick reads of a source's activation index (``card.index.CardIndex`` is one)."""

    @property
    def n_active(self) -> Tensor: ...


class CardWorkspace(Protocol):
    """What a view asks of the Workspace (which is one): its model and SAEs, and cards.

    Views meet through the Workspace, never through each other: a view holds this, so it
    imports neither the Workspace nor another view's widget.
    """

    @property
    def adapter(self) -> ModelAdapter: ...
    @property
    def saes(self) -> Mapping[str, SparseAutoencoder]: ...
    def check_feature(self, name: str, feature: object) -> int: ...
    def card_state(self, name: str, feature: int, complete: bool = True) -> FeatureCardState: ...
    def card(self, name: str, feature: int = 0) -> anywidget.AnyWidget: ...
    def neuron_card(self, hook_name: str, index: int = 0) -> anywidget.AnyWidget: ...
    def search(self, name: str, text: str, k: int = 10) -> SearchResult: ...
    def window(self, name: object, feature: object, row: object, position: object) -> ExampleWindow: ...
    def index(self, name: str) -> UnitCounts: ...
    def label(self, name: str, feature: int, text: str) -> None: ...
    def labels(self, name: str) -> dict[int, str]: ...


WorkspaceFactory = Callable[[object, Mapping[str, object], object], CardWorkspace]
_factories: list[WorkspaceFactory] = []


def register_workspace(factory: WorkspaceFactory) -> None:
    """Called by :mod:`featurecard.workspace` when imported: how ``FeatureCard(model, sae, tokens)``
    builds its Workspace (``factory(model, saes, tokens)``)."""
    _factories[:] = [factory]


def make_workspace(model: object, saes: Mapping[str, object], tokens: object) -> CardWorkspace:
    """A Workspace of ``model`` with ``saes`` over ``tokens``, from the registered factory."""
    if not _factories:
        raise RuntimeError(
            "FeatureCard(model, sae, tokens) needs featurecard.workspace, which was never imported: "
            "use fc.FeatureCard (import featurecard as fc) or fc.Workspace(...).card(name, feature)"
        )
    return _factories[0](model, saes, tokens)


class CardSession(Protocol):
    """What a CardHost needs from its session: to open a card, and its Workspace (search, random)."""

    @property
    def ws(self) -> CardWorkspace: ...
    def card_state(self, selected: Mapping[str, Any]) -> Mapping[str, Any]: ...


def check_search(text: object, k: object) -> tuple[str, int]:
    """A search request's ``text`` and ``k`` as the front end sent them, checked for type."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int in [1, 100]; got {k!r}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {text!r}")
    return text, k


def random_live(n_active: Tensor, exclude: int | None = None) -> int:
    """A uniformly random unit with ``n_active > 0`` (it fires in the dataset), other than ``exclude``."""
    live = [int(u) for u in (n_active > 0).nonzero().flatten().tolist()]
    if exclude is not None and len(live) > 1:
        live = [u for u in live if u != exclude]
    if not live:
        raise ValueError(f"none of the {n_active.numel()} units fires on the dataset tokens")
    return random.choice(live)


def check_kwargs(view: str, kwargs: Mapping[str, Any]) -> None:
    """A widget takes ``layout`` and its own keywords only; others are a TypeError naming them."""
    unknown = set(kwargs) - {"layout"}
    if unknown:
        raise TypeError(f"{view} got unexpected keyword arguments {sorted(unknown)}")


def shown(e: BaseException) -> str:
    """An exception as the view shows it: a refused value's message as is, others with their type."""
    return str(e) if isinstance(e, traitlets.TraitError) else f"{type(e).__name__}: {e}"


@dataclass(frozen=True)
class RequestSpec:
    """One request a view answers (made by :func:`request`)."""

    name: str
    method: Callable[..., Any]
    accepted: tuple[str, ...] | None  # its argument names; None: any (``**kwargs``)
    quiet: bool  # True: no ``busy``, and a failure is only in the reply (the front end shows it there)


def request(name: str, *, quiet: bool = False) -> Callable[[F], F]:
    """Marks a method as the handler of request ``name``; its keyword arguments are the request's ``args``.

    ``quiet=True`` is for cheap questions whose answer the front end shows where it asked (a
    search): ``busy`` stays False and a failure does not set ``error``.
    """

    def mark(method: F) -> F:
        params = list(inspect.signature(method).parameters.values())[1:]  # after self
        any_args = any(p.kind is p.VAR_KEYWORD for p in params)
        accepted = None if any_args else tuple(p.name for p in params)
        setattr(method, _MARK, RequestSpec(name, method, accepted, quiet))
        return method

    return mark


class View(anywidget.AnyWidget):
    """Base of the three widgets (see the module docstring)."""

    state = traitlets.Dict(help="The last good state; binary arrays as bytes.").tag(sync=True)
    error = traitlets.Unicode("", help="Why the last request failed; '' when it did not.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a request is being computed.").tag(sync=True)

    requests: ClassVar[dict[str, RequestSpec]] = {}  # name -> handler, collected from @request methods
    _quiet: bool = False  # True while a request handler sets its own traits (observers do not recompute)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, RequestSpec] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                spec = getattr(value, _MARK, None)
                if isinstance(spec, RequestSpec):
                    found[spec.name] = spec
        cls.requests = found

    def __init__(self, options: Mapping[str, Any], **traits: Any) -> None:
        """``options``: the user's extra keywords (``layout`` only); ``traits``: the first values."""
        check_kwargs(type(self).__name__, options)
        super().__init__(**traits, **options)
        self.on_msg(self._on_request)

    # -- the request protocol ------------------------------------------------------------------
    def _on_request(self, _widget: object, content: object, _buffers: Sequence[Any]) -> None:
        """A custom message from the front end: a request gets exactly one reply."""
        if not isinstance(content, dict) or content.get("kind") != REQUEST:
            return
        rid = content.get("id")
        try:
            result = self.answer(content.get("name"), content.get("args"))
        except Exception as e:  # the front end shows it; the kernel log stays quiet
            self.send({"kind": REPLY, "id": rid, "ok": False, "error": shown(e)})
        else:
            self.send({"kind": REPLY, "id": rid, "ok": True, "result": result})

    def answer(self, name: object, args: object = None) -> Any:
        """Runs request ``name`` with ``args`` as the front end asks it; raises what it refuses."""
        spec = self.requests.get(name) if isinstance(name, str) else None
        try:
            if spec is None:
                raise ValueError(f"unknown request {name!r}; known: {sorted(self.requests)}")
            kwargs = _request_args(spec, args)
        except Exception as e:
            self.error = shown(e)
            raise
        if spec.quiet:
            return spec.method(self, **kwargs)
        self.busy = True
        try:
            return spec.method(self, **kwargs)
        except Exception as e:  # shown in the view; the last good state stays
            self.error = shown(e)
            raise
        finally:
            self.busy = False

    @contextlib.contextmanager
    def _settle(self) -> Iterator[None]:
        """A request's outcome, in one message: the traits set inside, and ``error`` cleared.
        Observers see ``_quiet`` and do not compute again."""
        self._quiet = True
        try:
            with self.hold_sync():
                yield
                self.error = ""
        finally:
            self._quiet = False

    # -- Python-side changes -------------------------------------------------------------------
    def _run(self, work: Callable[[], None]) -> bool:
        """Runs ``work`` (an observer's recomputation) with ``busy``; a failure sets ``error``,
        keeps the last good state and returns False."""
        self.busy = True
        try:
            work()
        except Exception as e:  # shown in the widget; the last good state stays
            self.error = shown(e)
            return False
        finally:
            self.busy = False
        return True

    def _set(self, name: str, value: Any) -> None:
        with self.hold_sync():
            setattr(self, name, dict(value))
            self.error = ""

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """A trait written by a front end that does not use requests: a refused value is shown,
        not lost in the kernel log, and the shown value is sent back."""
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as e:
            self.error = str(e)
            self.send_state([k for k in sync_data if k in self.keys])


def _request_args(spec: RequestSpec, args: object) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise TypeError(f"request {spec.name!r} takes a dict of arguments; got {args!r}")
    unknown = sorted(set(args) - set(spec.accepted)) if spec.accepted is not None else []
    if unknown:
        accepted = ", ".join(spec.accepted or ()) or "none"
        raise TypeError(f"request {spec.name!r} got unknown arguments {unknown}; accepted: {accepted}")
    return dict(args)


class CardHost(View):
    """A view that opens the card of one of its units inline (the ContributionGraph, the NodeTable)."""

    selected = traitlets.Dict(help="The unit whose card is open, or {}.").tag(sync=True)
    card = traitlets.Dict(help="The open unit's FeatureCardState, or {}.").tag(sync=True)

    _session: CardSession

    @request("select")
    def _select(self, **selected: Any) -> dict[str, Any]:
        """Open the card of ``selected`` (``{}`` closes it); a refused unit keeps the open card."""
        card = dict(self._session.card_state(selected)) if selected else {}
        with self._settle():
            self.selected = selected
            self.card = card
        return {"selected": selected}

    def _open_unit(self) -> tuple[str, int]:
        source, feature = self.card.get("source"), self.card.get("feature")
        if not isinstance(source, str) or isinstance(feature, bool) or not isinstance(feature, int):
            raise ValueError("no card is open: select a unit first")
        return source, feature

    @request("search", quiet=True)
    def _search(self, text: object = "", k: object = 10) -> SearchResult:
        """The units of the open card's source most active on ``text`` (its search box)."""
        checked, n = check_search(text, k)
        return self._session.ws.search(self._open_unit()[0], checked, k=n)

    @request("random", quiet=True)
    def _random(self) -> dict[str, int]:
        """A random live unit of the open card's source, other than the open one (its random button)."""
        source, feature = self._open_unit()
        return {"feature": random_live(self._session.ws.index(source).n_active, exclude=feature)}

    @request("label")
    def _label(self, text: object = None) -> dict[str, str]:
        """Set the open card's latent's label (``Workspace.label``; ``""`` removes it): the card
        redraws with it, as the FeatureCard widget's own label request does."""
        if not isinstance(text, str):
            raise TypeError(f"a label is a str ('' removes it); got {text!r}")
        source, feature = self._open_unit()
        ws = self._session.ws
        ws.label(source, feature, text)
        with self._settle():
            self.card = {**self.card, "label": ws.labels(source).get(feature, "")}
        return {"label": text}

    @request("window", quiet=True)
    def _window(
        self, source: object = None, feature: object = None, row: object = None, position: object = None
    ) -> ExampleWindow:
        """±20 tokens of an example row of the open card (a click on the row); ``source`` and
        ``feature`` default to the open card's."""
        open_source, open_feature = self._open_unit()
        unit = (open_source if source is None else source, open_feature if feature is None else feature)
        return self._session.ws.window(*unit, row, position)

    @traitlets.observe("selected")
    def _on_selected(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if not change["new"]:
            self.card = {}
            return
        self._run(lambda: self._set("card", self._session.card_state(change["new"])))
