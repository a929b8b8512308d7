"""Import timm where torchvision cannot be loaded, for the zoo's timm models.

timm imports torchvision when it is imported (``timm.layers`` takes ``FrozenBatchNorm2d`` from
``torchvision.ops``, ``timm.data`` the transforms and datasets), and torchvision's wheels do not load
beside this torch; pip cannot install timm without pulling another torch in either (so timm is not
in the ``test`` extra: ``pip install --no-deps timm`` puts it here).  The ResNet, ViT and ConvNeXt
that the zoo builds from configs need none of torchvision: their layers are timm's and torch's.

So, for the tests only, :func:`import_timm` imports timm with a *stand-in* for torchvision: every
name timm asks of it is an inert placeholder class, which raises if anything calls or instantiates
it.  A model that used torchvision would fail loudly, never run something else; :func:`uses_stand_in`
lets a test check that no module of a model comes from it.  The stand-in is removed from
``sys.modules`` and ``sys.meta_path`` once timm is imported; timm keeps its own references only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

from torch import nn


class _Placeholder(type):
    """The class of every stand-in name: attributes are placeholders too (``InterpolationMode.NEAREST``)."""

    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _placeholder(f"{cls.__qualname__}.{attr}")

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"torchvision's {cls.__qualname__} was used, but torchvision is only a stand-in here")


def _placeholder(name: str) -> type:
    made: type = _Placeholder(name, (), {"__qualname__": name, "__module__": "torchvision (stand-in)"})
    return made


class _StandInModule(ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _placeholder(f"{self.__name__}.{attr}")


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "torchvision" and not name.startswith("torchvision."):
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = _StandInModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: ModuleType) -> None:
        pass


def _torchvision_loads() -> bool:
    try:
        importlib.import_module("torchvision")
    except Exception:  # absent, or a wheel built for another torch: either way unusable
        for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def import_timm() -> ModuleType:
    """``import timm``, with the torchvision stand-in if the real one does not load."""
    if "timm" in sys.modules or _torchvision_loads():
        return importlib.import_module("timm")
    finder = _StandInFinder()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("timm")
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if isinstance(sys.modules[name], _StandInModule)]:
            del sys.modules[name]


def uses_stand_in(model: nn.Module) -> list[str]:
    """Names of the modules of ``model`` whose class comes from the torchvision stand-in."""
    return [name for name, module in model.named_modules() if isinstance(type(module), _Placeholder)]
