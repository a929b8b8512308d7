from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.graph import forward_taint
from dlsan.lint.analysis.leakage import (
    fit_call_data,
    fitted_transformer,
    manual_scaling_data,
    names_held_out,
    names_training,
    resampled_data,
    scaled_by_function,
    split_sinks,
)
from dlsan.lint.analysis.nodes import method_name, receiver
from dlsan.lint.names import dotted_name
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic import Scope, root_names_read


class PreprocessingBeforeSplit(Rule):
    """
    ## What it does
    Flags a data-dependent transform fit on the full data set whose result is then split into
    training and test (or validation) data.

    Transforms are sklearn scalers, imputers, PCA/SVD, encoders, vectorizers and feature
    selectors (`fit`, `fit_transform`, or `fit` then `transform`), and manual standardisation or
    min-max scaling with the data's own statistics (`(X - X.mean()) / X.std()`,
    `X -= X.mean(0)`), the function forms (`preprocessing.scale(X)`, `minmax_scale`...), and
    imbalanced-learn samplers (`SMOTE().fit_resample(X, y)`: rows synthesised from test rows).
    Splits are `train_test_split`, `random_split`, a KFold-style `.split`,
    `cross_val_score`-style helpers, and slices assigned to train/test/val names. Quiet for
    transforms fit on training data after the split and for pipelines (`Pipeline([...]).fit`).

    ## Why is this bad?
    The statistics the transform learns (means, variances, vocabularies, principal axes, imputed
    values) then include the test rows, so information from the test set leaks into training.
    The evaluation becomes optimistic - sometimes by a lot for small data, feature selection or
    target encoding - and the number reported is not what the model will do on new data.

    ## Example
    ```python
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    ```

    ## Use instead
    ```python
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    ```
    (or put the scaler in a `Pipeline` and fit that on the training split).
    """

    code = "DLS401"
    name = "preprocessing-before-split"
    message = (
        "a transform is fit on the full data set before it is split: its statistics include the "
        "test rows, so the evaluation is optimistic; split first, then fit on the training split "
        "(or use a Pipeline)"
    )
    message_resampled = (
        "rows are resampled (`fit_resample`) on the full data set before it is split: rows made "
        "from or copied off test rows land in the training split, so the evaluation is "
        "optimistic; split first, then resample the training split only"
    )
    requires = ("split", "train", "cross_val")

    VALID = [
        # resampling the training split only is the fix
        Valid("""
            from imblearn.over_sampling import SMOTE
            from sklearn.model_selection import train_test_split
            X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y)
            X_train, y_train = SMOTE().fit_resample(X_train, y_train)
        """),
        Valid("""
            from sklearn.preprocessing import scale
            from sklearn.model_selection import train_test_split
            X_train, X_test, y_train, y_test = train_test_split(X, y)
            X_train = scale(X_train)
        """),
        # a fit_resample that is not imbalanced-learn's: unknown, quiet
        Valid("""
            from sklearn.model_selection import train_test_split
            X_res, y_res = my_resampler.fit_resample(X, y)
            X_train, X_test, y_train, y_test = train_test_split(X_res, y_res)
        """),
        Valid("""
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import StandardScaler
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
            scaler = StandardScaler()
            X_train = scaler.fit_transform(X_train)
            X_test = scaler.transform(X_test)
        """),
        Valid("""
            from sklearn.model_selection import train_test_split
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
            X_train, X_test, y_train, y_test = train_test_split(X, y)
            pipe = make_pipeline(StandardScaler(), LogisticRegression())
            pipe.fit(X_train, y_train)
        """),
        Valid("""
            from sklearn.model_selection import KFold
            from sklearn.preprocessing import MinMaxScaler
            kf = KFold(n_splits=5)
            for train_idx, test_idx in kf.split(X):
                scaler = MinMaxScaler().fit(X[train_idx])
                X_tr, X_te = scaler.transform(X[train_idx]), scaler.transform(X[test_idx])
        """),
        Valid("""
            import torch
            from torch.utils.data import random_split, TensorDataset
            dataset = TensorDataset(torch.tensor(X), torch.tensor(y))
            train_set, val_set = random_split(dataset, [0.8, 0.2])
            mean = train_set.dataset.tensors[0][train_set.indices].mean(0)
        """),
        Valid("""
            from sklearn.preprocessing import LabelEncoder
            from sklearn.model_selection import train_test_split
            y = LabelEncoder().fit_transform(df["label"])
            X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y)
        """),
        Valid("""
            import numpy as np
            from sklearn.model_selection import train_test_split
            X_train, X_test = train_test_split(X)
            mu, sigma = X_train.mean(0), X_train.std(0)
            X_train = (X_train - mu) / sigma
            X_test = (X_test - mu) / sigma
        """),
        Valid("""
            from sklearn.preprocessing import StandardScaler
            from sklearn.model_selection import train_test_split
            X_train, X_test, y_train, y_test = train_test_split(X, y)
            scaler = StandardScaler().fit(X_train)
            X_all = scaler.transform(X)
        """),
        Valid("""
            import torch
            def normalize(x):
                return (x - x.mean(dim=-1, keepdim=True)) / x.std(dim=-1, keepdim=True)
            train_loader = make_loader("train")
        """),
        Valid("""
            from sklearn.preprocessing import StandardScaler
            from sklearn.model_selection import train_test_split
            scaler = StandardScaler()
            features = scaler.fit_transform(X_full)
            train_text, test_text = train_test_split(texts)
        """),
    ]
    INVALID = [
        # search-index file 44212184831 (a registration-data notebook): SMOTE over the whole data,
        # then train_test_split of the resampled rows
        Invalid(
            """
            from imblearn.over_sampling import SMOTE
            from sklearn.model_selection import train_test_split
            X_resampled, y_resampled = SMOTE().fit_resample(X, y)
            X_train, X_test, y_train, y_test = train_test_split(X_resampled, y_resampled, random_state=42)
            """,
            line=3,
        ),
        Invalid(
            """
            from imblearn.over_sampling import RandomOverSampler
            from sklearn.model_selection import train_test_split
            ros = RandomOverSampler(random_state=0)
            X_res, y_res = ros.fit_resample(X, y)
            X_train, X_test, y_train, y_test = train_test_split(X_res, y_res, test_size=0.2)
            """,
            line=4,
        ),
        # search-index file 17940827733 (and 744542628): the function form of StandardScaler
        Invalid(
            """
            from sklearn import preprocessing
            from sklearn.model_selection import train_test_split
            X = preprocessing.scale(X)
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
            """,
            line=3,
        ),
        # written after amlynczak/Fundamentals-of-Data-Science-project solutions/split.py: the split
        # happens in a helper, after the scaler has seen every row
        Invalid("""
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import StandardScaler
            def split_dataset(X_scaled, y, test_size=0.2, random_state=42):
                X_train, X_test, y_train, y_test = train_test_split(X_scaled, y, test_size=test_size)
                return X_train, X_test, y_train, y_test
            scaler = StandardScaler()
            X_scaled = scaler.fit_transform(X)
            X_train, X_test, y_train, y_test = split_dataset(X_scaled, y)
        """, line=7),
        Invalid(
            """
            from sklearn.preprocessing import StandardScaler
            from sklearn.model_selection import train_test_split
            X = StandardScaler().fit_transform(X)
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
            """,
            line=3,
        ),
        Invalid(
            """
            import pandas as pd
            from sklearn.preprocessing import MinMaxScaler
            from sklearn.model_selection import train_test_split
            df = pd.read_csv("houses.csv")
            scaler = MinMaxScaler()
            df[num_cols] = scaler.fit_transform(df[num_cols])
            X = df.drop(columns=["price"])
            y = df["price"]
            X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
            """,
            line=6,
        ),
        Invalid(
            """
            import numpy as np
            from sklearn.model_selection import train_test_split
            X = np.load("features.npy")
            X = (X - X.mean(axis=0)) / X.std(axis=0)
            X_train, X_val = train_test_split(X, test_size=0.1)
            """,
            line=4,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import TensorDataset, random_split
            data = torch.load("signals.pt", weights_only=True)
            data = (data - data.min()) / (data.max() - data.min())
            dataset = TensorDataset(data, labels)
            train_set, test_set = random_split(dataset, [0.8, 0.2])
            """,
            line=4,
        ),
        Invalid(
            """
            from sklearn.decomposition import PCA
            from sklearn.model_selection import StratifiedKFold
            pca = PCA(n_components=50)
            pca.fit(X)
            X_red = pca.transform(X)
            skf = StratifiedKFold(n_splits=5)
            for train_idx, val_idx in skf.split(X_red, y):
                clf.fit(X_red[train_idx], y[train_idx])
            """,
            line=4,
        ),
        Invalid(
            """
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.model_selection import cross_val_score
            vectorizer = TfidfVectorizer(max_features=20000)
            features = vectorizer.fit_transform(df["text"])
            scores = cross_val_score(LogisticRegression(), features, df["label"], cv=5)
            """,
            line=4,
        ),
        Invalid(
            """
            import numpy as np
            X = np.loadtxt("data.csv", delimiter=",")
            X -= X.mean(axis=0)
            X /= X.std(axis=0)
            n_train = int(0.8 * len(X))
            X_train, y_train = X[:n_train], y[:n_train]
            X_test = X[n_train:]
            """,
            line=3,
        ),
        Invalid(
            """
            from sklearn.impute import SimpleImputer
            from sklearn.model_selection import train_test_split
            def prepare(df):
                imputer = SimpleImputer(strategy="median")
                values = imputer.fit_transform(df[features])
                return train_test_split(values, df["target"], test_size=0.25)
            """,
            line=5,
        ),
        Invalid(
            """
            from sklearn.preprocessing import StandardScaler
            from sklearn.model_selection import train_test_split
            X_train, X_test, y_train, y_test = train_test_split(
                StandardScaler().fit_transform(X), y, test_size=0.3
            )
            """,
            line=4,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        resampled = resampled_data(self.context, node)
        data = resampled or scaled_by_function(self.context, node)
        if data is None:
            data = fit_call_data(node)
            if data is None or not fitted_transformer(self.context, node, by_name=True):
                return
        if _names_a_part(data):
            return
        flow = self.context.semantic.walk_function(self.context.ancestors)
        seeds = _bound_from(flow, node)
        if method_name(node) == "fit":
            seeds |= self._transformed_later(flow, receiver(node), node)
        if self._reaches_split(flow, node, seeds):
            self.report(node, self.message_resampled if resampled is not None else None)

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check_manual(node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check_manual(node)

    def _check_manual(self, node: cst.Assign | cst.AugAssign) -> None:
        data = manual_scaling_data(self.context, node)
        if data is None or _names_a_part(cst.parse_expression(data)):
            return
        flow = self.context.semantic.walk_function(self.context.ancestors)
        if self._reaches_split(flow, node, _bound_from(flow, node)):
            self.report(node)

    # -- flow ------------------------------------------------------------------------------------

    @staticmethod
    def _transformed_later(flow: Scope, transformer: cst.BaseExpression | None, fit: cst.Call) -> dict[str, int]:
        """Names bound from ``transformer.transform(...)`` after ``transformer.fit(...)``."""
        name = dotted_name(transformer)
        if name is None:
            return {}
        at = flow.position(fit)
        seeds: dict[str, int] = {}
        for call in flow.calls:
            if flow.position(call) > at and method_name(call) == "transform" and dotted_name(receiver(call)) == name:
                seeds |= _bound_from(flow, call)
        return seeds

    def _reaches_split(self, flow: Scope, origin: cst.CSTNode, seeds: dict[str, int]) -> bool:
        tainted = forward_taint(self.context, flow, seeds)
        start = flow.position(origin)
        for sink in split_sinks(self.context, flow, self.context.enclosing(cst.ClassDef)):
            if flow.position(sink.node) < start and not flow.contains(sink.node, origin):
                continue
            for data in sink.data:
                if flow.contains(data, origin) or (root_names_read(data) & set(tainted)):
                    return True
        return False


def _names_a_part(data: cst.BaseExpression) -> bool:
    """Data named like a training or held-out part was split already."""
    return names_training(data) or names_held_out(data)


def _bound_from(flow: Scope, node: cst.CSTNode) -> dict[str, int]:
    """Names bound by the statement that contains ``node`` (with their positions)."""
    return {
        binding.name: binding.position
        for bindings in flow.bindings.values() for binding in bindings
        if flow.contains(binding.node, node)
    }
