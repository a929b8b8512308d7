"""Replay a failing forward pass op by op to name the first bad op and the user's source line.

Runs only after the cheap check has found a NaN/Inf (``instrument(replay=True)``, the default in
``raise`` mode), so it may synchronise and allocate.  The model's forward is run again on the
same inputs under a :class:`~torch.overrides.TorchFunctionMode` that looks at every torch call:

* forward: the first op whose output holds the non-finite kind the layer produced (NaN, or
  +/-inf) while its inputs held none of it is the bad op;
* backward: the forward is replayed with autograd on, every node is mapped to the line of user
  code whose op created it, and unit gradients are sent back through the replayed graph; the first
  node that turns finite output gradients into non-finite input gradients is the bad node.

The whole model is replayed (not only the failing module), so the line is the user's own even
when the failing module is one of torch's (``h = self.fc(x)``).  The replay leaves no trace: it
runs on copies of the inputs, restores every buffer (batch-norm statistics) and the RNG state,
pauses the recorder, never touches ``.grad``, and keeps no tensor once it returns.
"""

from __future__ import annotations

import linecache
import sys
import types
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from dlsan.runtime.location import display_path, is_user_file, user_frame
from dlsan.runtime.stats import format_stats, tensor_stats
from dlsan.runtime.structure import tensors_in
from dlsan.runtime.tape import NO_VERSION, BackwardWindow, ForwardPass, version_of

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.findings import Finding
    from dlsan.runtime.host import ProbeHost

_SCALARS = (int, float, bool, str, type(None))
_LOG_OPS = ("log", "log2", "log10", "log1p", "xlogy", "digamma", "lgamma")
_ROOT_OPS = ("sqrt", "rsqrt", "pow", "__pow__", "__rpow__", "float_power")
_DIVISION_OPS = ("div", "true_divide", "__truediv__", "__rtruediv__", "reciprocal", "__itruediv__", "div_", "remainder")
_SOFTMAX_OPS = ("softmax", "log_softmax", "_softmax", "softmin")


class BadOpError(ArithmeticError):
    """The cause chained to a :class:`~dlsan.NonFiniteError` found by a replay: its traceback
    ends at the user's line that ran the bad op."""


@dataclass
class BadOp:
    """What the replay found: the op, the user's source line, its inputs, and what to try."""

    phase: str
    op: str
    path: str | None
    line: int | None
    source: str
    inputs: list[dict[str, Any]]
    hint: str
    node: str | None = None
    error: BadOpError | None = field(default=None, repr=False)

    def where(self) -> str:
        if self.path is None:
            return "(no user source line: the op ran inside library code)"
        return f"{self.path}:{self.line}: {self.source}"

    def lines(self) -> list[str]:
        if self.phase == "backward":
            head = f"  first bad op in backward: {self.node}, the gradient of {self.op} at {self.where()}"
        else:
            head = f"  first bad op: {self.op} at {self.where()}"
        found = [head]
        label = "saved tensor" if self.phase == "backward" else "input"
        found.extend(f"    {label} {i}: {format_stats(stats)}" for i, stats in enumerate(self.inputs))
        found.append(f"  hint: {self.hint}")
        return found

    def details(self) -> dict[str, Any]:
        return {"op": self.op, "op_path": self.path, "op_line": self.line, "op_source": self.source,
                "op_inputs": self.inputs, "node": self.node, "hint": self.hint}  # fmt: skip


#: the key of a replayable call's arguments in its output node's ``metadata`` (see :class:`WeakCall`)
_GRAPH_KEY = "dlsan.replay-call"


class WeakCall:
    """A call's arguments held weakly, for a replay after its forward pass has ended (the backward).

    Only plain arguments can be held this way: tensors (weakly, with their version, so an in-place
    change later is noticed) and scalars; anything else makes the call unreplayable.  ``graph``, an
    autograd node of the call's output, holds them in its ``metadata`` for as long as the graph
    lives: a temporary input (``model(x.float())``, ``model(batch.to(device))``) then survives until
    the backward pass a replay would explain, and no longer."""

    __slots__ = ("ok", "_items")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any], graph: Any = None) -> None:
        if not kwargs and len(args) == 1 and isinstance(args[0], torch.Tensor):  # the usual model(x)
            self.ok = True
            self._items: list[tuple[str | None, Any]] = [(None, (weakref.ref(args[0]), version_of(args[0])))]
        else:
            items = [*((None, value) for value in args), *kwargs.items()]
            self.ok = all(isinstance(value, (torch.Tensor, *_SCALARS)) for _, value in items)
            self._items = [
                (key, (weakref.ref(value), version_of(value)) if isinstance(value, torch.Tensor) else value)
                for key, value in items
            ] if self.ok else []  # fmt: skip
        if self.ok and graph is not None:
            graph.metadata[_GRAPH_KEY] = (args, kwargs)

    def resolve(self) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if not self.ok:
            return None
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for key, value in self._items:
            if isinstance(value, tuple):
                tensor = value[0]()
                if tensor is None or (value[1] != NO_VERSION and version_of(tensor) != value[1]):
                    return None
                value = tensor
            if key is None:
                args.append(value)
            else:
                kwargs[key] = value
        return tuple(args), kwargs


def replay_forward(
    model: nn.Module, call: tuple[tuple[Any, ...], dict[str, Any]], pause: Callable[[bool], None], want_nan: bool
) -> BadOp | None:
    """Run ``model`` on ``call`` again until the first op that makes NaN (``want_nan``) or a
    non-finite value from inputs without it; ``None`` if the replay never gets there."""
    finder = _FirstBadOp(want_nan)
    with _isolated(model, pause):
        args, kwargs = _copies(call, grad=False)
        try:
            with torch.no_grad(), finder:
                model(*args, **kwargs)
        except _Stop as stop:
            if finder.found is not None and finder.found.error is not None:
                trimmed(finder.found.error.with_traceback(stop.__traceback__))
        except Exception:  # the replay is a best effort: the user's error is what matters
            return None
    return finder.found


def replay_backward(
    model: nn.Module, call: tuple[tuple[Any, ...], dict[str, Any]], pause: Callable[[bool], None]
) -> BadOp | None:
    """Replay the forward with autograd on, send unit gradients back, and name the first node
    whose input gradients are non-finite while its output gradients were finite."""
    finder = _FirstBadOp(want_nan=False, track_nodes=True)
    with _isolated(model, pause):
        args, kwargs = _copies(call, grad=True)
        try:
            with torch.enable_grad(), finder:
                output = model(*args, **kwargs)
            outs = [t for _, t in tensors_in(output) if t.is_floating_point() and t.grad_fn is not None]
            leaves: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
            leaves += [t for _, t in tensors_in((args, kwargs)) if t.requires_grad]
            if not outs or not leaves:
                return None
            culprit: list[Any] = []
            handles = [
                node.register_hook(_node_hook(node, culprit)) for node, _, _ in finder.nodes.values()
            ]
            try:
                torch.autograd.grad(outs, leaves, [torch.ones_like(t) for t in outs], allow_unused=True)
            finally:
                for handle in handles:
                    handle.remove()
        except Exception:
            return None
        if not culprit:
            return None
        node, grad_outputs = culprit[0]
        return finder.backward_op(node, grad_outputs)


class _Stop(Exception):
    """Ends a forward replay at the bad op."""


class _FirstBadOp(TorchFunctionMode):
    def __init__(self, want_nan: bool, track_nodes: bool = False) -> None:
        super().__init__()
        self.want_nan = want_nan
        self.track_nodes = track_nodes
        self.found: BadOp | None = None
        #: id(node) -> (node, op name, the user's stack when the op ran) for the backward replay
        self.nodes: dict[int, tuple[Any, str, list[_FramePosition]]] = {}

    def __torch_function__(
        self, func: Callable[..., Any], types: Sequence[type], args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        __tracebackhide__ = True
        out = func(*args, **(kwargs or {}))
        outs = [t for _, t in tensors_in(out) if t.is_floating_point()]
        if not outs:
            return out
        if self.track_nodes:
            stack: list[_FramePosition] | None = None
            for tensor in outs:
                node = tensor.grad_fn
                if node is not None and id(node) not in self.nodes:
                    stack = _user_stack(sys._getframe(1)) if stack is None else stack
                    self.nodes[id(node)] = (node, _op_name(func), stack)
        elif self.found is None and any(_bad(t, self.want_nan) for t in outs):
            inputs = [t for _, t in tensors_in((list(args), kwargs or {})) if t.is_floating_point()]
            if not any(_bad(t, self.want_nan) for t in inputs):
                name = _op_name(func)
                stats = [tensor_stats(t) for t in inputs]
                self.found = _bad_op("forward", name, _location(sys._getframe(1)), stats,
                                     _hint(name, inputs, outs, backward=False))  # fmt: skip
                raise _Stop
        return out

    def backward_op(self, node: Any, grad_outputs: Sequence[torch.Tensor | None]) -> BadOp:
        _, name, stack = self.nodes.get(id(node), (node, node.name(), []))
        saved = list(_saved_tensors(node))
        stats = [tensor_stats(t) for t in saved]
        location = None
        if stack:
            frame, _, line = stack[0]
            filename = frame.f_code.co_filename
            location = (display_path(filename), line, linecache.getline(filename, line).strip())
        op = _bad_op("backward", name, location, stats, _hint(name, saved, [], backward=True))
        op.node = node.name()
        if op.error is not None and stack:
            chain: types.TracebackType | None = None
            for frame, lasti, line in stack:  # innermost first, so each wraps the chain built so far
                chain = types.TracebackType(chain, frame, lasti, line)
            op.error.with_traceback(chain)
        return op


def _bad_op(
    phase: str, name: str, location: tuple[str, int, str] | None, stats: list[dict[str, Any]], hint: str
) -> BadOp:
    path, line, source = location if location is not None else (None, None, "")
    op = BadOp(phase, name, path, line, source, stats, hint)
    op.error = BadOpError(f"{name} made a non-finite value from finite inputs" if phase == "forward"
                          else f"the gradient of {name} is non-finite")  # fmt: skip
    return op


def _node_hook(node: Any, culprit: list[Any]) -> Callable[..., None]:
    def hook(grad_inputs: Sequence[torch.Tensor | None], grad_outputs: Sequence[torch.Tensor | None]) -> None:
        if culprit:
            return
        if any(g is not None and not bool(torch.isfinite(g).all()) for g in grad_inputs) and all(
            g is None or bool(torch.isfinite(g).all()) for g in grad_outputs
        ):
            culprit.append((node, grad_outputs))

    return hook


def _saved_tensors(node: Any) -> Iterator[torch.Tensor]:
    """The tensors an autograd node saved for its backward (the forward op's inputs, mostly)."""
    for attr in dir(node):
        if attr.startswith("_saved_"):
            try:
                value = getattr(node, attr)
            except RuntimeError:  # freed
                continue
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                yield value


def _bad(tensor: torch.Tensor, want_nan: bool) -> bool:
    data = tensor.detach()
    return bool(torch.isnan(data).any()) if want_nan else not bool(torch.isfinite(data).all())


def _op_name(func: Callable[..., Any]) -> str:
    try:
        name = torch.overrides.resolve_name(func)
    except Exception:  # pragma: no cover - older torch
        name = None
    return str(name or getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func)))


_FramePosition = tuple[types.FrameType, int, int]


def _user_stack(frame: types.FrameType | None) -> list[_FramePosition]:
    """The user's frames from ``frame`` outwards, each with where it is now (frames move on)."""
    found: list[_FramePosition] = []
    while frame is not None:
        if is_user_file(frame.f_code.co_filename):
            found.append((frame, frame.f_lasti, frame.f_lineno))
        frame = frame.f_back
    return found


def _location(frame: types.FrameType | None) -> tuple[str, int, str] | None:
    found = user_frame(frame)
    if found is None:
        return None
    filename, line = found.f_code.co_filename, found.f_lineno
    return display_path(filename), line, linecache.getline(filename, line).strip()


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _hint(name: str, inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor], *, backward: bool) -> str:
    op = _short(name)
    first = inputs[0].detach() if inputs else None
    if op in _LOG_OPS:
        return "log of a non-positive value: clamp the input (x.clamp_min(eps)) or add a small eps"
    if op in _ROOT_OPS:
        if backward:
            return "sqrt (or a fractional power) at 0 has an infinite derivative: use torch.sqrt(x + eps)"
        return "square root of a negative value: clamp the input (x.clamp_min(0) + eps)"
    if op in _DIVISION_OPS:
        return ("division by zero (a zero std, norm or count): add eps to the denominator, "
                "e.g. (x - mean) / (std + 1e-5)")  # fmt: skip
    if op in _SOFTMAX_OPS and first is not None and bool(torch.isneginf(first).any()):
        return ("a row where every position is masked (-inf everywhere) has no softmax: mask with "
                "torch.finfo(dtype).min instead of -inf, or keep one position unmasked per row")  # fmt: skip
    if any(t.dtype == torch.float16 for t in [*inputs, *outputs]):
        return ("float16 overflows above 65504: use bfloat16, autocast with a GradScaler, or rescale "
                "the values before this op")  # fmt: skip
    if op in ("exp", "exp2", "expm1", "cosh", "sinh"):
        return "exp overflows: use torch.logsumexp / log_softmax, or subtract the maximum first"
    return "look at this op's inputs (above): clamp them to its domain or rescale them"


#: the hint when the failing layer's weights were already non-finite (an update corrupted them)
PARAMETER_HINT = (
    "the weights were already non-finite after an optimizer step: lower the learning rate, clip "
    "gradients (torch.nn.utils.clip_grad_norm_) or check the loss scale"
)


def _copies(call: tuple[tuple[Any, ...], dict[str, Any]], *, grad: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with every tensor copied, so an in-place op in the replay changes
    nothing the user holds; float copies require grad in a backward replay if the originals did."""

    def copy(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            clone = value.detach().clone()
            return clone.requires_grad_(True) if grad and value.requires_grad and clone.is_floating_point() else clone
        if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
            return type(value)(copy(v) for v in value)
        if isinstance(value, dict):
            return {k: copy(v) for k, v in value.items()}
        return value

    args, kwargs = call
    return tuple(copy(a) for a in args), {k: copy(v) for k, v in kwargs.items()}


@contextmanager
def _isolated(model: nn.Module, pause: Callable[[bool], None]) -> Iterator[None]:
    """Pause the recorder, keep the RNG and every buffer as they were."""
    buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    devices = sorted({p.device.index for p in model.parameters() if p.device.type == "cuda" and p.device.index is not None})
    pause(True)
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        pause(False)
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


def trimmed(error: BaseException) -> BaseException:
    """``error`` with a traceback of the user's frames only (it ends at the user's line)."""
    frames: list[types.TracebackType] = []
    tb = error.__traceback__
    while tb is not None:
        if is_user_file(tb.tb_frame.f_code.co_filename):
            frames.append(tb)
        tb = tb.tb_next
    chain: types.TracebackType | None = None
    for tb in reversed(frames):
        chain = types.TracebackType(chain, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    return error.with_traceback(chain)



def explain_forward(finding: Finding, fwd: ForwardPass, host: ProbeHost) -> None:
    """Add the first bad op of a forward finding (replayed when ``host.replay``) or, when the
    layer's weights were already non-finite, the learning-rate hint."""
    origin = finding.details.get("origin")
    if origin == "parameter":
        _attach(finding, None, PARAMETER_HINT)
        return
    if origin != "module" or not host.replay or not fwd.call_args:
        return
    model = host.table.module(fwd.call_module[0])
    stats = finding.details.get("stats") or {}
    if model is not None:
        _attach(finding, replay_forward(model, fwd.call_args[0], host.recorder.pause, bool(stats.get("nan"))))


def explain_backward(finding: Finding, window: BackwardWindow, host: ProbeHost) -> None:
    """Add the first bad autograd node of a backward finding and the forward line that made it."""
    if finding.details.get("origin") != "module" or not host.replay:
        return
    for fwd in window.passes():
        call = None if fwd.root_call is None else fwd.root_call.resolve()
        model = host.table.module(fwd.call_module[0])
        if call is not None and model is not None:
            _attach(finding, replay_backward(model, call, host.recorder.pause))
            return


def _attach(finding: Finding, bad: BadOp | None, hint: str = "") -> None:
    if bad is None:
        if hint:
            finding.message += f"\n  hint: {hint}"
            finding.details["hint"] = hint
        return
    finding.message += "\n" + "\n".join(bad.lines())
    finding.details.update(bad.details())
    if bad.path is not None:
        finding.path, finding.line = bad.path, bad.line
    finding.cause = bad.error
