"""Unit tests of train/eval mode events (with same-file call following) and of the leakage
helpers (transformers, manual scaling, split sinks, held-out names)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.analysis.functions import file_index
from dlsan.lint.analysis.leakage import (
    fitted_transformer,
    manual_scaling_data,
    names_held_out,
    names_training,
    split_sinks,
)
from dlsan.lint.analysis.modes import last_mode_before, mode_of_call, scope_events
from dlsan.lint.analysis.nodes import calls_in, nodes_in
from dlsan.lint.context import FileContext


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("t.py", source, cst.parse_module(source))


def _call(ctx: FileContext, text: str) -> cst.Call:
    return next(c for c in calls_in(ctx, ctx.module) if ctx.code(c) == text)


@pytest.mark.parametrize(
    ("call", "mode"),
    [
        ("model.eval()", "eval"),
        ("model.train()", "train"),
        ("model.train(True)", "train"),
        ("model.train(False)", "eval"),
        ("model.train(mode=False)", "eval"),
        ("model.train(was_training)", "unknown"),
        ("trainer.train()", None),
        ("xgb.train(params, dtrain)", None),
        ("model.eval(x)", None),
        ("model(x)", None),
    ],
)
def test_mode_of_call(call, mode):
    ctx = _context(call)
    assert mode_of_call(_call(ctx, call)) == mode


def test_events_follow_same_file_functions_in_order():
    ctx = _context("""
        def validate(model):
            model.eval()
            run(model)
            model.train()
        def train_epoch(model, loader, opt):
            model.train()
            for x in loader:
                model(x).sum().backward()
                opt.step()
        for epoch in range(3):
            train_epoch(model, loader, opt)
            validate(model)
            model.eval()
    """)
    loop = next(n for n in ctx.module.body if isinstance(n, cst.For))
    events = scope_events(ctx, loop)
    assert [(e.kind, e.receiver) for e in events] == [
        ("train", None), ("step", None), ("step", None),
        ("eval", None), ("train", None),
        ("eval", "model"),
    ]
    assert events[0].origin is _call(ctx, "train_epoch(model, loader, opt)")


def test_recursive_calls_do_not_loop():
    ctx = _context("""
        def a(m):
            m.eval()
            b(m)
        def b(m):
            a(m)
    """)
    events = scope_events(ctx, file_index(ctx).functions["b"])
    assert [e.kind for e in events] == ["eval"]


def test_last_mode_before_a_call_matches_the_model():
    ctx = _context("""
        model.eval()
        teacher.train()
        out = model(x)
        model.module.train()
        out = model(y)
    """)
    flow = ctx.semantic.root
    events = scope_events(ctx, ctx.module)
    first, second = _call(ctx, "model(x)"), _call(ctx, "model(y)")
    assert last_mode_before(events, flow.order, flow.position(first), "model").kind == "eval"
    assert last_mode_before(events, flow.order, flow.position(second), "model").kind == "train"
    assert last_mode_before(events, flow.order, flow.position(first), None).receiver == "teacher"


# -- leakage helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fitted"),
    [
        ("from sklearn.preprocessing import StandardScaler\ns = StandardScaler()\ns.fit(X)", True),
        ("from sklearn import decomposition\np = decomposition.PCA(5)\np.fit(X)", True),
        ("from sklearn.preprocessing import StandardScaler\nStandardScaler().fit(X)", True),
        ("from sklearn.preprocessing import LabelEncoder\ne = LabelEncoder()\ne.fit(y)", False),
        ("from sklearn.pipeline import Pipeline\np = Pipeline(steps)\np.fit(X)", False),
        ("scaler.fit(X)", True),
        ("label_encoder.fit(X)", False),
        ("model.fit(X)", False),
    ],
)
def test_fitted_transformer(source, fitted):
    ctx = _context(source)
    fit = next(c for c in calls_in(ctx, ctx.module) if ctx.code(c).endswith(".fit(X)") or ctx.code(c).endswith(".fit(y)"))
    assert fitted_transformer(ctx, fit, by_name=True) is fitted


@pytest.mark.parametrize(
    ("statement", "data"),
    [
        ("X = (X - X.mean(0)) / X.std(0)", "X"),
        ("X = (X - X.min()) / (X.max() - X.min())", "X"),
        ("x = x - np.mean(x, axis=0)", "x"),
        ("X -= X.mean(axis=0)", "X"),
        ("X /= X.std(axis=0)", "X"),
        ('df["a"] = (df["a"] - df["a"].mean()) / df["a"].std()', 'df["a"]'),
        ("X = (X - mu) / sigma", None),
        ("Y = (X - Z.mean()) / X.std()", None),
        ("X = X / 255.0", None),
    ],
)
def test_manual_scaling(statement, data):
    ctx = _context(f"import numpy as np\n{statement}\n")
    node = next(n for n in nodes_in(ctx, ctx.module) if isinstance(n, (cst.Assign, cst.AugAssign)))
    assert manual_scaling_data(ctx, node) == data


def test_split_sinks():
    ctx = _context("""
        from sklearn.model_selection import KFold, train_test_split, cross_val_score
        from torch.utils.data import random_split
        a, b = train_test_split(X, y)
        tr, te = random_split(ds, [0.8, 0.2])
        for i, j in KFold(5).split(Z):
            pass
        for i, j in kf.split(W, y):
            pass
        s = cross_val_score(est, V, y)
        X_train, X_test = X[:n], X[n:]
        words = line.split(",")
        first = X[:5]
    """)
    sinks = split_sinks(ctx, ctx.semantic.root)
    received = sorted(ctx.code(d) for sink in sinks for d in sink.data)
    assert received == ["V", "W", "X", "X", "X", "Z", "ds", "y", "y", "y"]


@pytest.mark.parametrize(
    ("name", "held_out", "training"),
    [
        ("X_test", True, False), ("test_df", True, False), ("x_val", True, False),
        ("df_valid", True, False), ("Xtest", True, False), ("X_train", False, True),
        ("train_df", False, True), ("latest", False, False), ("contest", False, False),
        ("X", False, False),
    ],
)
def test_part_names(name, held_out, training):
    expr = cst.parse_expression(name)
    assert names_held_out(expr) is held_out and names_training(expr) is training
