"""Data-dependent preprocessing and dataset splits, for the leakage rules (DLS401, DLS403).

* :func:`is_transformer` - an sklearn transformer that learns from data (scalers, imputers,
  PCA/SVD, encoders, vectorizers, feature selectors), by its constructor or a name bound to one.
* :func:`fit_call_data` - the data of ``t.fit(X)`` / ``t.fit_transform(X)``.
* :func:`scaled_by_function` / :func:`resampled_data` - the data of ``preprocessing.scale(X)``
  (and the other function forms) and of an imbalanced-learn ``sampler.fit_resample(X, y)``.
* :func:`manual_scaling_data` - ``(X - X.mean()) / X.std()``, ``(X - X.min()) / (X.max() - X.min())``,
  ``X -= X.mean(0)``: the data standardised with its own statistics.
* :func:`split_sinks` - where data is split into train/test: ``train_test_split``, ``random_split``,
  ``kfold.split``, ``cross_val_score``, slices assigned to train/test/val names, and calls of the
  project's functions that split their arguments (a split done in a helper).
* :func:`names_held_out` / :func:`names_training` - whether an expression names a test/validation
  set or a training set.

Stateless transforms (``Normalizer``, ``HashingVectorizer``, ``FunctionTransformer``) and target
encoders (``LabelEncoder``, ``LabelBinarizer``: a class vocabulary, not a statistic) learn nothing
that leaks, and pipelines are left alone: ``Pipeline([...]).fit(X_train)`` after a split is the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from dlsan.lint.analysis.nodes import method_name, receiver
from dlsan.lint.calls import get_arg, positional_args
from dlsan.lint.catalog.sklearn_api import (
    CV_FUNCTIONS,
    FIT_METHODS,
    RESAMPLE_METHODS,
    SAMPLER_PREFIX,
    SCALING_FUNCTIONS,
    SPLIT_FUNCTIONS,
    STATISTICS,
    TRANSFORMERS,
)
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic import BindingKind, Scope, root_names_read
from dlsan.lint.semantic.objects import constructor

_TRANSFORMER_NAME = re.compile(
    r"scaler|imputer|encoder|vectori[sz]er|tfidf|pca|svd|normali[sz]er|discreti[sz]er|selector",
    re.IGNORECASE,
)
_NOT_A_TRANSFORMER_NAME = re.compile(r"label_?encoder|labelencoder|^le$|^lb$|autoencoder|text_encoder|"
                                     r"image_encoder|tokenizer", re.IGNORECASE)
_SPLITTER_NAME = re.compile(r"(^|_)(kf|kfold|skf|gkf|cv|folds?|splitter|sss|tscv|rkf|splits?)$|k_?fold",
                            re.IGNORECASE)
_HELD_OUT = re.compile(r"(^|_)(test|tst|te|val|valid|validation|holdout|dev|eval)(_|\d|$)|"
                       r"^(x|y|df|data)_?(test|val)|^test", re.IGNORECASE)
_TRAINING = re.compile(r"(^|_)(train|trn|tr|training)(_|\d|$)|^(x|y|df|data)_?train|^train", re.IGNORECASE)


def names_held_out(expr: cst.CSTNode) -> bool:
    """``X_test``, ``test_df``, ``x_val``, ``df_valid["text"]``: a held-out set."""
    return any(_HELD_OUT.search(name) for name in root_names_read(expr))


def names_training(expr: cst.CSTNode) -> bool:
    return any(_TRAINING.search(name) for name in root_names_read(expr))


def _transformer_class(context: FileContext, func: cst.BaseExpression) -> bool:
    resolved = context.names.resolve(func)
    return resolved is not None and resolved.startswith("sklearn.") and resolved.rsplit(".", 1)[-1] in TRANSFORMERS


def is_transformer(context: FileContext, expr: cst.BaseExpression, at: cst.CSTNode, *, by_name: bool = False) -> bool:
    """Whether ``expr`` is a data-dependent sklearn transformer: ``StandardScaler()``, or a name
    bound to one in this scope; with ``by_name``, also a name that says so (``scaler``)."""
    if isinstance(expr, cst.Call):
        return _transformer_class(context, expr.func)
    name = dotted_name(expr)
    if name is None:
        return False
    bindings = [b for b in context.semantic.reaching(name, at) if b.kind is not BindingKind.PARAMETER]
    if any(isinstance(b.value, cst.Call) and b.index is None and _transformer_class(context, b.value.func)
           for b in bindings):
        return True
    last = name.rsplit(".", 1)[-1]
    return by_name and not bindings and bool(_TRANSFORMER_NAME.search(last)) \
        and not _NOT_A_TRANSFORMER_NAME.search(last)


def fit_call_data(call: cst.Call) -> cst.BaseExpression | None:
    """``X`` of ``t.fit(X, y)`` / ``t.fit_transform(X)``."""
    if method_name(call) not in FIT_METHODS:
        return None
    arg = get_arg(call, "X", 0) or get_arg(call, "raw_documents", 0)
    return arg.value if arg is not None else None


def scaled_by_function(context: FileContext, call: cst.Call) -> cst.BaseExpression | None:
    """``X`` of ``preprocessing.scale(X)`` and the other function forms that standardise data with
    its own statistics."""
    if context.names.resolve(call.func) not in SCALING_FUNCTIONS:
        return None
    arg = get_arg(call, "X", 0)
    return arg.value if arg is not None else None


def resampled_data(context: FileContext, call: cst.Call) -> cst.BaseExpression | None:
    """``X`` of ``sampler.fit_resample(X, y)`` with an imbalanced-learn sampler (built in the call,
    ``SMOTE().fit_resample(X, y)``, or bound to a name): it synthesises or drops rows from what
    it sees."""
    target = receiver(call)
    if method_name(call) not in RESAMPLE_METHODS or target is None:
        return None
    built = constructor(context, target, context.enclosing(cst.ClassDef))
    resolved = context.names.resolve(built.expr.func) if built is not None and isinstance(built.expr, cst.Call) else None
    if resolved is None or not resolved.startswith(SAMPLER_PREFIX):
        return None
    arg = get_arg(call, "X", 0)
    return arg.value if arg is not None else None


def fitted_transformer(context: FileContext, call: cst.Call, *, by_name: bool = False) -> bool:
    target = receiver(call)
    return target is not None and is_transformer(context, target, call, by_name=by_name)


# -- manual scaling ------------------------------------------------------------------------------


def _statistic_of(context: FileContext, expr: cst.BaseExpression) -> str | None:
    """The data a statistic is computed from: ``X`` for ``X.mean(0)``, ``np.std(X)``, ``X.max()``."""
    if not isinstance(expr, cst.Call):
        return None
    method = method_name(expr)
    if method in STATISTICS:
        name = dotted_name(expr.func)
        if name is not None and name.split(".", 1)[0] in ("np", "numpy", "torch") or \
                (context.names.resolve(expr.func) or "").startswith(("numpy.", "torch.")):
            args = positional_args(expr)
            return context.code(args[0].value) if args else None
        return context.code(receiver(expr))  # type: ignore[arg-type]
    return None


def _centred(context: FileContext, expr: cst.BaseExpression) -> str | None:
    """``X`` for ``X - X.mean()`` / ``X - X.min()`` (also ``(X - X.mean(0))``)."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Subtract):
        statistic_data = _statistic_of(context, expr.right)
        if statistic_data is not None and statistic_data == context.code(expr.left):
            return statistic_data
    return None


def manual_scaling_data(context: FileContext, node: cst.CSTNode) -> str | None:
    """The data (as source text) that ``node`` standardises or min-max scales with its own
    statistics: an assigned value ``(X - X.mean()) / X.std()``, or ``X -= X.mean()`` / ``X /= X.std()``."""
    if isinstance(node, cst.AugAssign) and isinstance(node.operator, (cst.SubtractAssign, cst.DivideAssign)):
        statistic_data = _statistic_of(context, node.value)
        return statistic_data if statistic_data is not None and statistic_data == context.code(node.target) else None
    value = getattr(node, "value", None)
    if not isinstance(value, cst.BaseExpression):
        return None
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Divide):
        return _centred(context, value.left)
    return _centred(context, value)


# -- splits ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sink:
    """Where data is split: the node, and the expressions that receive the data."""

    node: cst.CSTNode
    data: tuple[cst.BaseExpression, ...]


_SINKS: Fact[Scope, list[Sink]] = Fact("split sinks")


def split_sinks(context: FileContext, scope: Scope, cls: cst.ClassDef | None = None) -> list[Sink]:
    """Splits in ``scope``'s frame, in source order (cached); a call of a project function that
    splits its arguments (``split_data(X, y)``, also imported from the project) is one.  ``cls``:
    the class whose ``self`` methods the scope's ``self.x()`` calls run.  A recursive helper splits
    nothing more through itself."""
    return _SINKS.get_guarded(context, scope, lambda: _find_sinks(context, scope, cls), [])


def _find_sinks(context: FileContext, scope: Scope, cls: cst.ClassDef | None) -> list[Sink]:
    sinks = []
    for call in scope.calls:
        data = _split_call_data(context, call) or _split_by_callee(context, call, cls)
        if data:
            sinks.append(Sink(call, data))
    for bindings in scope.bindings.values():
        for binding in bindings:
            value = _bound_value(binding.value, binding.index)
            if not binding.item and not binding.element and _is_part_name(binding.name) \
                    and isinstance(value, cst.Subscript):
                sinks.append(Sink(binding.node, (value.value,)))
    return sorted(sinks, key=lambda sink: scope.position(sink.node))


def _split_by_callee(context: FileContext, call: cst.Call, cls: cst.ClassDef | None) -> tuple[cst.BaseExpression, ...]:
    """The arguments a call of a project function hands to a split inside it."""
    from dlsan.lint.analysis.functions import callee
    from dlsan.lint.semantic.summaries import argument_for, split_parameters

    target = callee(context, call, cls)
    if target is None:
        return ()
    positions = split_parameters(target.context, target.function, target.within(context, cls))
    found = [argument_for(call, target.function, position) for position in sorted(positions)]
    return tuple(argument for argument in found if argument is not None)


def _bound_value(value: cst.BaseExpression | None, index: int | None) -> cst.BaseExpression | None:
    """The part of ``value`` a target at ``index`` of a tuple target receives, when visible."""
    if index is None:
        return value
    if isinstance(value, (cst.Tuple, cst.List)) and index < len(value.elements):
        return value.elements[index].value
    return None


def _is_part_name(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return bool(_TRAINING.search(last) or _HELD_OUT.search(last))


#: the last parts of the names of the calls that split (canonical names keep the last part of these)
_SPLITTING_NAMES = SPLIT_FUNCTIONS | CV_FUNCTIONS | {"split"}


def _split_call_data(context: FileContext, call: cst.Call) -> tuple[cst.BaseExpression, ...]:
    func = call.func
    if type(func) is cst.Attribute and func.attr.value not in _SPLITTING_NAMES:
        return ()  # what ``x.attr`` resolves to ends in ``attr`` too (asked of every call of the file)
    resolved = context.names.resolve(func)
    name = dotted_name(func)
    last = (resolved or name or "").rsplit(".", 1)[-1]
    if resolved is not None and not resolved.startswith(("sklearn.", "torch.")):
        return ()
    if last in SPLIT_FUNCTIONS and (resolved is not None or name == last):
        args = [arg.value for arg in positional_args(call)]
        return tuple(args if last == "train_test_split" else args[:1])
    if last in CV_FUNCTIONS and (resolved is not None or name == last):
        return tuple(arg.value for arg in positional_args(call)[1:])
    args = [arg.value for arg in positional_args(call)]
    if method_name(call) == "split" and args:
        splitter = receiver(call)
        splitter_name = dotted_name(splitter)
        if isinstance(splitter, cst.Call):
            known = (context.names.resolve(splitter.func) or "").startswith("sklearn.model_selection.")
        else:
            known = splitter_name is not None and (
                _SPLITTER_NAME.search(splitter_name.rsplit(".", 1)[-1]) is not None
                or _bound_to_splitter(context, splitter_name, call))
        return tuple(args) if known else ()
    return ()


def _bound_to_splitter(context: FileContext, name: str, at: cst.CSTNode) -> bool:
    return any(
        isinstance(b.value, cst.Call)
        and (context.names.resolve(b.value.func) or "").startswith("sklearn.model_selection.")
        for b in context.semantic.reaching(name, at)
    )
