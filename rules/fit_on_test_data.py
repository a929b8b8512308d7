from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.leakage import fit_call_data, fitted_transformer, names_held_out, names_training
from dlsan.lint.rule import Invalid, Rule, Valid


class FitOnTestData(Rule):
    """
    ## What it does
    Flags a data-dependent transformer (scaler, imputer, PCA, encoder, vectorizer, feature
    selector) fit on a test or validation set: `scaler.fit(X_test)`, `tfidf.fit_transform(test_df.text)`.

    The held-out set is recognised by its name (`X_test`, `test_df`, `x_val`, `df_valid`...).
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
        "a transformer is fit on test/validation data: its statistics then come from the held-out "
        "set, which leaks it into the evaluation; fit on the training split and only `transform` "
        "the test data"
    )
    requires = ("fit",)

    VALID = [
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
        if data is None or not names_held_out(data) or names_training(data):
            return
        if fitted_transformer(self.context, node, by_name=True):
            self.report(node)
