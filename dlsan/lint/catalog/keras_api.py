"""Keras (``keras`` and ``tensorflow.keras``, canonically ``keras.``) as data."""

from __future__ import annotations

#: ``model.fit`` and its keyword that hands it held-out data (``validation_split=`` carves it
#: out of the training data, so it cannot be test data)
FIT_METHODS = frozenset({"fit", "fit_generator"})
VALIDATION_DATA = "validation_data"
#: callbacks that select or stop on the monitored (validation) metric
SELECTING_CALLBACKS = frozenset({"keras.callbacks.ModelCheckpoint", "keras.callbacks.EarlyStopping",
                                 "keras.callbacks.ReduceLROnPlateau"})

#: ``keras.datasets.<name>.load_data()`` returns ``(x_train, y_train), (x_test, y_test)``: its parts
#: are the dataset's own training and test splits
DATASETS_PREFIX = "keras.datasets."
LOAD_DATA = "load_data"
