"""scikit-learn, imbalanced-learn and category_encoders as data."""

from __future__ import annotations

#: transformers that learn statistics from the data they are fit on (by class name: the
#: canonical module varies across sklearn versions)
TRANSFORMERS = frozenset({
    # sklearn.preprocessing
    "StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "QuantileTransformer",
    "PowerTransformer", "KBinsDiscretizer", "OneHotEncoder", "OrdinalEncoder", "TargetEncoder",
    "SplineTransformer",
    # sklearn.impute (and the legacy sklearn.preprocessing.Imputer)
    "SimpleImputer", "KNNImputer", "IterativeImputer", "Imputer",
    # sklearn.decomposition
    "PCA", "TruncatedSVD", "KernelPCA", "IncrementalPCA", "FastICA", "NMF", "FactorAnalysis",
    "SparsePCA", "LatentDirichletAllocation",
    # sklearn.feature_extraction.text
    "TfidfVectorizer", "CountVectorizer", "TfidfTransformer", "DictVectorizer",
    # sklearn.feature_selection
    "SelectKBest", "SelectPercentile", "VarianceThreshold", "RFE", "RFECV", "SelectFromModel",
})
#: packages whose transformer classes are listed by name
TRANSFORMER_PACKAGES = ("sklearn.", "category_encoders.")
#: category_encoders: every encoder learns from the data
CATEGORY_ENCODERS_PREFIX = "category_encoders."
#: function forms that standardise with the data's own statistics
SCALING_FUNCTIONS = frozenset({"sklearn.preprocessing.scale", "sklearn.preprocessing.minmax_scale",
                               "sklearn.preprocessing.robust_scale", "sklearn.preprocessing.maxabs_scale",
                               "sklearn.preprocessing.quantile_transform",
                               "sklearn.preprocessing.power_transform"})
#: imbalanced-learn samplers (``fit_resample`` synthesises or drops rows from what it sees)
SAMPLER_PREFIX = "imblearn."
RESAMPLE_METHODS = frozenset({"fit_resample", "fit_sample"})
FIT_METHODS = frozenset({"fit", "fit_transform"})
#: statistics whose use on the full data leaks test rows into training features
STATISTICS = frozenset({"mean", "std", "min", "max", "median", "var", "quantile", "nanmean",
                        "nanstd", "nanmin", "nanmax", "amin", "amax"})
SPLIT_FUNCTIONS = frozenset({"train_test_split", "random_split"})
CV_FUNCTIONS = frozenset({"cross_val_score", "cross_val_predict", "cross_validate", "learning_curve",
                          "validation_curve", "permutation_test_score"})
SPLITTERS = frozenset({"KFold", "StratifiedKFold", "GroupKFold", "ShuffleSplit", "StratifiedShuffleSplit",
                       "TimeSeriesSplit", "RepeatedKFold", "RepeatedStratifiedKFold", "LeaveOneOut",
                       "StratifiedGroupKFold", "GroupShuffleSplit"})
