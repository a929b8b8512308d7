"""``ambiguous-broadcast`` (opt-in: ``checks=[..., "broadcast"]``): element-wise ops whose operands
broadcast both ways, and shape-sensitive losses called with differently shaped input and target.

``pred - y`` with ``pred`` of shape ``(N, 1)`` and ``y`` of shape ``(N,)`` is an ``(N, N)`` tensor,
not ``N`` differences, and every reduction afterwards hides it; ``F.mse_loss`` on the same pair
only warns.  An op is flagged when *each* operand is stretched along some dimension and at least
one stretch is along a dimension the operand does not have (the implicit leading 1 that
broadcasting adds): ``x[:, None] * y[None, :]``, an outer product written with explicit 1s on both
sides, is deliberate and stays quiet.

While the instrumented model runs (root module hooks push and pop it) a ``TorchDispatchMode`` sees
every aten op, below autograd, so every call still runs the kernel it would have run; inside
``with san.watch():`` (the loss) a ``TorchFunctionMode`` sees the torch calls, losses included.
Code outside both pays nothing.  (A model called inside ``watch()`` runs under the function mode
too, which turns off the fused inference paths of ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer``: keep evaluation outside ``watch()``.)  Inside, each call costs one set lookup, plus host-side shape arithmetic for the
element-wise ops and losses.  Reported once per call site, with both shapes and the module.

Under ``torch.compile`` the probe stays out of the way: its model mode is not entered for a
``torch.compile(model)`` call (dynamo compiles nothing while a dispatch mode is on), and it declares
``ignore_compile_internals``, so a compiled helper called from an eager model is compiled as
without dlsan.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from dlsan.runtime.compat import in_compiled_module, is_compiling
from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, register_probe
from dlsan.runtime.stats import format_shape

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_BINARY = (
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "fmod", "pow", "atan2", "hypot", "maximum", "minimum", "fmax", "fmin",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
)  # fmt: skip
_DUNDERS = ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv",
            "mod", "pow", "rpow", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "xor")  # fmt: skip
#: losses that broadcast a mismatched target with a mere warning (the BCE losses raise by themselves)
_LOSSES = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss)
_SKIP_DIRS = (os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(__file__)))


def _elementwise() -> frozenset[Callable[..., Any]]:
    found = set()
    for name in _BINARY:
        for owner in (torch, torch.Tensor):
            if hasattr(owner, name):
                found.add(getattr(owner, name))
    for name in _DUNDERS:
        if hasattr(torch.Tensor, f"__{name}__"):
            found.add(getattr(torch.Tensor, f"__{name}__"))
    return frozenset(found)


_ELEMENTWISE = _elementwise()
_LOSS_SET = frozenset(_LOSSES)


def ambiguous(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Both shapes are stretched by broadcasting, and one along a dimension it does not have."""
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    a_grows = [i for i in range(n) if pa[i] == 1 and pb[i] > 1]
    b_grows = [i for i in range(n) if pb[i] == 1 and pa[i] > 1]
    implicit = any(i < n - len(a) for i in a_grows) or any(i < n - len(b) for i in b_grows)
    return bool(a_grows and b_grows and implicit)


def _aten_elementwise() -> frozenset[Any]:
    found = set()
    for name in (*_BINARY, "rsub"):
        for variant in (name, f"{name}_"):
            packet = getattr(torch.ops.aten, variant, None)
            if packet is not None:
                found.add(packet)
    return frozenset(found)


_ATEN_ELEMENTWISE = _aten_elementwise()


class _ModelMode(TorchDispatchMode):  # type: ignore[no-untyped-call, unused-ignore]  # untyped in torch
    """Sees the element-wise ops while the model runs, below autograd: every call still reaches
    the kernel it would have reached (a ``TorchFunctionMode`` would make ``has_torch_function``
    true, which turns off the fused paths of ``nn.MultiheadAttention`` and
    ``nn.TransformerEncoderLayer`` in inference), and nothing is looked at while compiling."""

    def __init__(self, probe: BroadcastProbe) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        self.probe = probe

    @classmethod
    def ignore_compile_internals(cls) -> bool:
        """Off while dynamo compiles (where dynamo asks): a ``torch.compile``d helper called inside
        the model is compiled as it would be without dlsan, instead of falling back to eager
        because a dispatch mode is on the stack."""
        return True

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.overloadpacket in _ATEN_ELEMENTWISE and len(args) >= 2 and not is_compiling():
            if isinstance(args[0], torch.Tensor) and isinstance(args[1], torch.Tensor):
                a, b = tuple(args[0].shape), tuple(args[1].shape)
                if a != b and ambiguous(a, b):
                    self.probe._report(func.overloadpacket, a, b, loss=False)
        return func(*args, **kwargs)


class _Mode(TorchFunctionMode):
    """Sees the torch calls inside ``san.watch()`` (the loss), including the shape-sensitive losses,
    which broadcast before any aten op sees them."""

    def __init__(self, probe: BroadcastProbe) -> None:
        super().__init__()
        self.probe = probe

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _ELEMENTWISE:
            if len(args) >= 2 and isinstance(args[0], torch.Tensor) and isinstance(args[1], torch.Tensor):
                a, b = tuple(args[0].shape), tuple(args[1].shape)
                if a != b and ambiguous(a, b):
                    self.probe._report(func, a, b, loss=False)
        elif func in _LOSS_SET:
            given = list(args[:2]) + [kwargs.get(k) for k in ("input", "target")[len(args[:2]) :]]
            if all(isinstance(t, torch.Tensor) for t in given) and given[0].shape != given[1].shape:
                self.probe._report(func, tuple(given[0].shape), tuple(given[1].shape), loss=True)
        return func(*args, **kwargs)


@register_probe
class BroadcastProbe(Probe):
    name = "broadcast"
    kinds = ("ambiguous-broadcast",)
    default = False

    def __init__(self) -> None:
        super().__init__()
        # Any: the modes' __enter__/__exit__ are untyped in torch
        self._mode: Any = _Mode(self)
        self._model_mode: Any = _ModelMode(self)
        self._depth = 0  # nested watch() blocks
        self._model_depth = 0  # nested calls of the model
        self._suspended = 0  # nested calls of PyTorch's own modules inside it
        self._sites: set[str] = set()

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        root = sanitizer.model
        sanitizer.register_forward_pre_hook(root, self._enter_hook)
        sanitizer.register_forward_hook(root, self._exit_hook, always_call=True)
        for _, module in sanitizer.named_modules():
            if module is not root and type(module).__module__.startswith("torch.nn."):
                sanitizer.register_forward_pre_hook(module, self._suspend_hook)
                sanitizer.register_forward_hook(module, self._resume_hook, always_call=True)

    def _suspend_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        """PyTorch's own modules run without the mode: their element-wise ops are not the user's
        code, and a Python dispatch mode can change which kernel some of them pick (the bf16 LSTM
        on CPU gives other bits under one)."""
        if is_compiling():  # first, in every hook: what a traced hook reads becomes a guard
            return
        if self._model_depth:
            self._suspended += 1
            if self._suspended == 1:
                self._model_mode.__exit__(None, None, None)

    def _resume_hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if is_compiling():
            return
        if self._suspended:
            self._suspended -= 1
            if self._suspended == 0:
                self._model_mode.__enter__()

    def detach(self) -> None:
        while self._depth:
            self._leave()
        while self._model_depth:
            self._exit_hook(self.sanitizer.model if self.sanitizer else nn.Module(), (), None)
        super().detach()

    def _enter_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        """The mode goes on for the model's call, unless a ``torch.compile(model)`` wrapper runs it:
        dynamo compiles nothing while a dispatch mode is on, so the compiled model would run
        eagerly, and its compiled code is not the user's to check op by op."""
        if is_compiling() or in_compiled_module():
            return
        self._model_depth += 1
        if self._model_depth == 1:
            self._model_mode.__enter__()

    def _exit_hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if is_compiling():
            return
        if self._model_depth:
            self._model_depth -= 1
            if self._model_depth == 0 and self._suspended:
                self._suspended = 0  # a module of PyTorch's raised: the mode is off already
            elif self._model_depth == 0:
                self._model_mode.__exit__(None, None, None)

    def _enter(self) -> None:
        self._depth += 1
        if self._depth == 1:
            self._mode.__enter__()

    def _leave(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._mode.__exit__(None, None, None)

    @contextmanager
    def watch(self) -> Iterator[None]:
        self._enter()
        try:
            yield
        finally:
            self._leave()

    def _report(self, func: Any, a: tuple[int, ...], b: tuple[int, ...], *, loss: bool) -> None:
        site = _call_site()
        if site in self._sites:
            return
        self._sites.add(site)
        sanitizer = self.sanitizer
        if sanitizer is None:
            return
        module = _running_module(sanitizer)
        where = "in the loss" if module is None else f"in {repr(module) if module else 'the model'}"
        name = getattr(func, "__name__", str(func))
        shapes = f"{format_shape(a)} and {format_shape(b)}"
        if loss:
            message = (
                f"{name} called with input {format_shape(a)} and target {format_shape(b)} {where} at {site}: "
                "the shapes differ, so the loss broadcasts them instead of pairing elements. Reshape one to the other's shape"
            )
        else:
            out = torch.broadcast_shapes(a, b)  # type: ignore[no-untyped-call, unused-ignore]
            message = (
                f"{name} of shapes {shapes} {where} at {site} broadcasts both ways into {format_shape(tuple(out))}: "
                "probably meant element by element. Make the shapes equal (squeeze/unsqueeze/keepdim=True)"
            )
        self.emit(
            Finding(
                "ambiguous-broadcast",
                module or "",
                "forward",
                sanitizer.step,
                message,
                {"where": site, "op": name, "shapes": [list(a), list(b)], "loss": loss},
            )
        )


def _call_site() -> str:
    """``file:line`` of the innermost frame outside torch and dlsan."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_SKIP_DIRS):
        frame = frame.f_back
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _running_module(sanitizer: ProbeHost) -> str | None:
    fwd = sanitizer.recorder.current
    if fwd is None or not fwd.stack:
        return None
    return sanitizer.table.names[fwd.call_module[fwd.stack[-1]]]
