from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.leakage import fit_call_data, fitted_transformer, names_held_out, names_training
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.values import value_of


class FitOnTestData(Rule):
    """
    ## What it does
    Flags a data-dependent transformer (scaler, imputer, PCA, encoder, vectorizer, feature
    selector) fit on a test or validation set: `scaler.fit(X_test)`, `tfidf.fit_transform(test_df.text)`.

    The held-out set is recognised by provenance first (the test part of a `train_test_split`,
    a `train=False` dataset), by its name only where that is unknown (`X_test`, `test_df`, `x_val`,
    `df_valid`...).
    Quiet for `transform` on test data (the correct use), for data combining training and test
    parts, and for target label encoders.

    ## Why is this bad?
    Fitting on the test set either replaces the statistics learned on the training data (so the
    model sees test features scaled differently from what it was trained on) or makes the test
    features depend on the test set itself: both leak test information into the evaluation and
    make the reported score meaningless. A transformer is fit once, on training data, and only
    applied to test data.

    ## Example
    ```python
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.fit_transform(X_test)
    ```

    ## Use instead
    ```python
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)
    ```
    """

    code = "DLS403"
    name = "fit-on-test-data"
    message = (
        "a transformer is fit on test/validation data ({evidence}): its statistics then come from the held-out "
        "set, which leaks it into the evaluation; fit on the training split and only `transform` "
        "the test data"
    )
    requires = ("fit",)

    VALID = [
        # the training part is named `test_pool` here, its provenance says it is the training split
        Valid("""
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import StandardScaler
            test_pool, heldout = train_test_split(X, test_size=0.2)
            scaler = StandardScaler().fit(test_pool)
        """),
        Valid("""
            from sklearn.preprocessing import StandardScaler
            scaler = StandardScaler()
            X_train = scaler.fit_transform(X_train)
            X_test = scaler.transform(X_test)
        """),
        Valid("""
            from sklearn.feature_extraction.text import TfidfVectorizer
            tfidf = TfidfVectorizer(ngram_range=(1, 2))
            tfidf.fit(train_df["text"])
            test_features = tfidf.transform(test_df["text"])
        """),
        Valid("""
            model.fit(X_train, y_train)
            print(model.score(X_test, y_test))
        """),
        Valid("""
            from sklearn.preprocessing import LabelEncoder
            le = LabelEncoder()
            y_test = le.fit_transform(y_test)
        """),
        Valid("""
            from sklearn.pipeline import Pipeline
            from sklearn.preprocessing import StandardScaler
            pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC())])
            pipe.fit(X_train, y_train)
            preds = pipe.predict(X_test)
        """),
        Valid("""
            import torch
            for x, y in test_loader:
                out = model(x)
                metric.update(out, y)
        """),
        Valid("""
            from sklearn.feature_extraction.text import CountVectorizer
            import pandas as pd
            vec = CountVectorizer()
            vec.fit(pd.concat([train_df.text, test_df.text]))
        """),
        Valid("""
            from sklearn.preprocessing import MinMaxScaler
            scaler = MinMaxScaler()
            scaler.fit(latest_prices)
            scaled = scaler.transform(contest_data)
        """),
    ]
    INVALID = [
        # the held-out part is named `b`, its `train_test_split` provenance decides
        Invalid("""
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import MinMaxScaler
            a, b, y_a, y_b = train_test_split(X, y, test_size=0.25)
            scaler = MinMaxScaler()
            a = scaler.fit_transform(a)
            b = scaler.fit_transform(b)
        """, line=6),
        Invalid(
            """
            from sklearn.preprocessing import StandardScaler
            scaler = StandardScaler()
            X_train = scaler.fit_transform(X_train)
            X_test = scaler.fit_transform(X_test)
            """,
            line=4,
        ),
        Invalid(
            """
            from sklearn.feature_extraction.text import TfidfVectorizer
            vectorizer = TfidfVectorizer()
            train_vecs = vectorizer.fit_transform(train_df["review"])
            test_vecs = vectorizer.fit_transform(test_df["review"])
            """,
            line=4,
        ),
        Invalid(
            """
            from sklearn.preprocessing import MinMaxScaler
            x_val = MinMaxScaler().fit_transform(x_val)
            """,
            line=2,
        ),
        Invalid(
            """
            from sklearn.impute import SimpleImputer
            imputer = SimpleImputer(strategy="mean")
            imputer.fit(df_test[numeric])
            df_test[numeric] = imputer.transform(df_test[numeric])
            """,
            line=3,
        ),
        Invalid(
            """
            from sklearn.decomposition import PCA
            def reduce(X_train, X_test, k=32):
                train_z = PCA(n_components=k).fit_transform(X_train)
                test_z = PCA(n_components=k).fit_transform(X_test)
                return train_z, test_z
            """,
            line=4,
        ),
        Invalid(
            """
            import torch
            from sklearn import preprocessing
            scaler = preprocessing.RobustScaler()
            test_features = torch.tensor(scaler.fit_transform(test_features), dtype=torch.float32)
            """,
            line=4,
        ),
        Invalid(
            """
            def evaluate(model, scaler, X_valid, y_valid):
                X_valid = scaler.fit_transform(X_valid)
                return model.score(X_valid, y_valid)
            """,
            line=2,
        ),
        Invalid(
            """
            from sklearn.preprocessing import OneHotEncoder
            enc = OneHotEncoder(handle_unknown="ignore")
            enc.fit(test[categorical_cols])
            """,
            line=3,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        data = fit_call_data(node)
        if data is None:
            return
        evidence = self._held_out(data)
        if evidence is not None and fitted_transformer(self.context, node, by_name=True):
            self.report(node, self.message.format(evidence=evidence))

    def _held_out(self, data: cst.BaseExpression) -> str | None:
        """Why ``data`` is a held-out split: its provenance (the part of a split it came from),
        else, where that is unknown, its name; ``None`` when it is not one."""
        split = value_of(self.context, data).split if isinstance(data, (cst.Name, cst.Attribute)) else None
        code = self.context.code(data)
        if split is not None:
            return f"`{code}` is {split.evidence.render(self.context)}" if split.name != "train" else None
        if names_held_out(data) and not names_training(data):
            return f"`{code}` is named as held-out data"
        return None
