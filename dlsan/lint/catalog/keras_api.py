"""Keras (``keras`` and ``tensorflow.keras``, canonically ``keras.``) as data."""

from __future__ import annotations

#: the ``fit`` keywords that hand it held-out data
VALIDATION_KEYWORDS = frozenset({"validation_data", "validation_split"})
#: callbacks that select or stop on the monitored (validation) metric
SELECTING_CALLBACKS = frozenset({"keras.callbacks.ModelCheckpoint", "keras.callbacks.EarlyStopping",
                                 "keras.callbacks.ReduceLROnPlateau"})
#: Keras calls that take ``training=``: the mode is explicit there
TRAINING_KEYWORD = "training"
