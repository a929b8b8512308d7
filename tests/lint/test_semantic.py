"""The semantic model: scopes, bindings, reaching definitions, abstract values, the catalogue."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.catalog import Framework, canonical
from dlsan.lint.context import FileContext
from dlsan.lint.semantic import BindingKind, ScopeKind
from dlsan.lint.semantic.values import Kind, value_of


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("example.py", source, cst.parse_module(source))


def _reads(context: FileContext, name: str) -> list[cst.BaseExpression]:
    """Every read of ``name`` in the file, in source order."""
    found: list[cst.BaseExpression] = []
    stack: list[cst.CSTNode] = [context.module]
    from dlsan.lint.walk import children
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == name:
            scope = context.semantic.frame_of(node)
            if node in scope.reads.get(name, []):
                found.append(node)
        stack.extend(reversed(children(node)))
    return found


def _code(context: FileContext, node: cst.CSTNode | None) -> str | None:
    return None if node is None else context.code(node)


def test_scopes_have_kinds_and_comprehension_targets_stay_inside() -> None:
    context = _context("""
        class A:
            def f(self, xs):
                ys = [x for x in xs]
                g = lambda t: t
                return ys
    """)
    root = context.semantic.root
    assert root.kind is ScopeKind.MODULE
    (cls,) = root.children
    (function,) = cls.children
    assert (cls.kind, function.kind) == (ScopeKind.CLASS, ScopeKind.FUNCTION)
    assert {c.kind for c in function.children} == {ScopeKind.COMPREHENSION, ScopeKind.LAMBDA}
    assert "x" not in function.bindings
    assert [b.kind for b in function.bindings["xs"]] == [BindingKind.PARAMETER]


def test_binding_kinds() -> None:
    context = _context("""
        import torch.nn as nn
        a = 1
        b, c = f()
        d, e = 1, 2
        a += 1
        h[0] = 3
        for i in range(3):
            pass
        with open(p) as fh:
            pass
        self.total = 0
    """)
    kinds = {name: [b.kind for b in bindings] for name, bindings in context.semantic.root.bindings.items()}
    assert kinds["nn"] == [BindingKind.IMPORT]
    assert kinds["a"] == [BindingKind.ASSIGNMENT, BindingKind.AUGMENTED]
    assert kinds["b"] == [BindingKind.UNPACKING]
    assert kinds["d"] == [BindingKind.ASSIGNMENT]
    assert kinds["h"] == [BindingKind.ITEM]
    assert kinds["i"] == [BindingKind.FOR_TARGET]
    assert kinds["fh"] == [BindingKind.WITH_TARGET]
    assert kinds["self.total"] == [BindingKind.ASSIGNMENT]


def test_use_inside_the_assigned_value_reads_the_earlier_binding() -> None:
    context = _context("""
        x = 1
        x = x + 1
        print(x)
    """)
    first, second = _reads(context, "x")
    assert [_code(context, b.value) for b in context.semantic.reaching("x", first)] == ["1"]
    assert [_code(context, b.value) for b in context.semantic.reaching("x", second)] == ["x + 1"]


def test_loop_back_edge_reaches_a_use_before_the_rebinding() -> None:
    context = _context("""
        total = 0
        for batch in loader:
            print(total)
            total = step(batch)
    """)
    (use,) = _reads(context, "total")
    assert sorted(_code(context, b.value) or "" for b in context.semantic.reaching("total", use)) == ["0", "step(batch)"]
    assert context.semantic.value_at(use) is None


def test_loop_that_rebinds_before_the_use_has_no_back_edge() -> None:
    context = _context("""
        out = None
        for batch in loader:
            out = model(batch)
            print(out)
    """)
    (use,) = _reads(context, "out")
    located = context.semantic.value_at(use)
    assert located is not None and context.code(located.expr) == "model(batch)"


def test_lambda_reads_the_enclosing_function_binding() -> None:
    context = _context("""
        def f():
            scale = 2.0
            g = lambda v: v * scale
    """)
    (use,) = _reads(context, "scale")
    located = context.semantic.value_at(use)
    assert located is not None and context.code(located.expr) == "2.0"


@pytest.mark.parametrize(("qualified", "expected"), [
    ("torch.nn.modules.loss.MSELoss", "torch.nn.MSELoss"),
    ("torch.optim.adam.Adam", "torch.optim.Adam"),
    ("torch.optim.lr_scheduler.StepLR", "torch.optim.lr_scheduler.StepLR"),
    ("tensorflow.keras.callbacks.EarlyStopping", "keras.callbacks.EarlyStopping"),
    ("sklearn.preprocessing._data.StandardScaler", "sklearn.preprocessing.StandardScaler"),
    ("torch.cuda.amp.GradScaler", "torch.amp.GradScaler"),
])
def test_canonical_names(qualified: str, expected: str) -> None:
    assert canonical(qualified) == expected


def test_resolver_returns_canonical_names() -> None:
    context = _context("from torch.nn.modules.loss import MSELoss\nMSELoss()\n")
    call = context.module.body[1].body[0].value  # type: ignore[attr-defined]
    assert context.names.resolve(call.func) == "torch.nn.MSELoss"


_MODELS = """
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, random_split
    from torchvision import datasets

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)
            self.hidden = 4
        def forward(self, x):
            return torch.relu(self.fc(x))

    class Dropping(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [nn.Linear(3, 4)]
            layers.append(nn.Dropout(0.5))
            self.body = nn.Sequential(*layers)
        def forward(self, x):
            return self.body(x)

    class Wrapped(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
        def forward(self, x):
            return self.encoder(x)

    class NumpyLayer:
        def forward(self, x):
            return x

    plain = Plain().to("cpu")
    dropping = Dropping()
    wrapped = Wrapped(make())
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.2)
    gru = nn.GRU(3, 4)
    layer = NumpyLayer()
    opt = torch.optim.SGD(plain.parameters(), lr=0.1)
    test_set = datasets.MNIST("data", train=False)
    test_loader = DataLoader(test_set, batch_size=8)
    train_part, val_part = random_split(test_set, [50, 10])
    USE = (plain, dropping, wrapped, lstm, gru, layer, opt, test_loader, val_part)
"""


def _values() -> tuple[FileContext, dict[str, object]]:
    context = _context(_MODELS)
    uses = context.module.body[-1].body[0].value.elements  # type: ignore[attr-defined]
    return context, {context.code(e.value): value_of(context, e.value) for e in uses}


def test_module_values_know_what_they_contain() -> None:
    context, values = _values()
    plain, dropping, wrapped = values["plain"], values["dropping"], values["wrapped"]
    assert plain.is_torch_module and plain.module.mode_dependent is False  # type: ignore[attr-defined]
    assert dropping.module.mode_dependent is True  # type: ignore[attr-defined]
    assert dropping.module.evidence.render(context) == "`nn.Dropout` on line 19"  # type: ignore[attr-defined]
    assert wrapped.module.mode_dependent is None  # type: ignore[attr-defined]


def test_recurrent_layers_depend_on_the_mode_through_dropout() -> None:
    _, values = _values()
    assert values["lstm"].module.mode_dependent is True  # type: ignore[attr-defined]
    assert values["gru"].module.mode_dependent is False  # type: ignore[attr-defined]


def test_a_class_with_forward_that_is_not_a_module_is_an_object() -> None:
    _, values = _values()
    layer = values["layer"]
    assert layer.kind is Kind.OBJECT and not layer.is_torch  # type: ignore[attr-defined]


def test_optimizer_and_loader_splits_by_provenance() -> None:
    context, values = _values()
    assert values["opt"].kind is Kind.OPTIMIZER  # type: ignore[attr-defined]
    loader = values["test_loader"]
    assert loader.kind is Kind.LOADER and loader.split.name == "test"  # type: ignore[attr-defined]
    assert "train=False" in loader.split.evidence.render(context)  # type: ignore[attr-defined]
    assert values["val_part"].split.name == "validation"  # type: ignore[attr-defined]


def test_frameworks_of_other_libraries() -> None:
    context = _context("""
        from mxnet.gluon import nn
        import numpy as np
        net = nn.Dense(10)
        arr = np.zeros(3)
        USE = (net, arr)
    """)
    uses = context.module.body[-1].body[0].value.elements  # type: ignore[attr-defined]
    net, arr = (value_of(context, e.value) for e in uses)
    assert net.framework is Framework.MXNET and not net.is_torch_module
    assert arr.kind is Kind.NDARRAY


def test_summary_of_a_method_that_keeps_only_numbers() -> None:
    from dlsan.lint.analysis.functions import file_index
    from dlsan.lint.semantic.summaries import summary_of

    context = _context("""
        class Accumulator:
            def add(self, *args):
                self.data = [a + float(b) for a, b in zip(self.data, args)]
        class Keeper:
            def add(self, value):
                self.values.append(value)
    """)
    methods = file_index(context).methods
    assert summary_of(context, methods["Accumulator"]["add"]).converts_arguments
    assert not summary_of(context, methods["Keeper"]["add"]).converts_arguments


def test_module_that_names_itself_resolves_to_its_own_classes() -> None:
    context = _context("""
        import sys
        d2l = sys.modules[__name__]
        class Accumulator:
            pass
        metric = d2l.Accumulator()
        USE = (metric,)
    """)
    use = context.module.body[-1].body[0].value.elements[0].value  # type: ignore[attr-defined]
    value = value_of(context, use)
    assert value.kind is Kind.OBJECT and value.cls is not None and value.cls.name.value == "Accumulator"


def test_project_index_follows_imports_of_the_project(tmp_path, monkeypatch) -> None:
    (tmp_path / "rl").mkdir()
    (tmp_path / "rl" / "__init__.py").write_text("")
    (tmp_path / "rl" / "agent.py").write_text(textwrap.dedent("""
        import torch
        class Agent(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.actor = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
            def forward(self, x):
                return self.actor(x)
        class Dropping(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = torch.nn.Dropout(0.1)
            def forward(self, x):
                return self.drop(x)
    """))
    main = tmp_path / "train.py"
    main.write_text("from rl.agent import Agent, Dropping\nagent = Agent()\nother = Dropping()\nUSE = (agent, other)\n")
    monkeypatch.chdir(tmp_path)
    source = main.read_text()
    context = FileContext(str(main), source, cst.parse_module(source))
    agent, other = (value_of(context, e.value) for e in context.module.body[-1].body[0].value.elements)  # type: ignore[attr-defined]
    assert agent.is_torch_module and agent.module.mode_dependent is False  # type: ignore[union-attr]
    assert other.module.mode_dependent is True  # type: ignore[union-attr]
    assert "rl/agent.py" in other.module.evidence.render(context)  # type: ignore[union-attr]
    assert str(tmp_path / "rl" / "agent.py") in context.dependencies
