"""The README's split example: product reviews split at random rows, not by user or by time."""

from __future__ import annotations

import numpy as np
import pandas as pd

import dlsan

rng = np.random.default_rng(0)
words = np.array(["great", "poor", "fast", "slow", "cheap", "solid", "broken", "again", "never", "love"])
n = 20_000
reviews = pd.DataFrame({
    "user": rng.integers(0, 2_000, n),
    "text": [" ".join(rng.choice(words, 8)) for _ in range(n)],
    "day": rng.integers(0, 365, n),
    "stars": rng.integers(1, 6, n),
})
reviews.loc[n - 40 :, "text"] = reviews["text"].iloc[:40].to_numpy()  # the same review posted twice
shuffled = reviews.sample(frac=1.0, random_state=0)
train, test = shuffled.iloc[:16_000], shuffled.iloc[16_000:]
print(dlsan.audit_split(train, test, labels="stars", groups="user", time="day", accuracy=0.62, resolution=0.01))
