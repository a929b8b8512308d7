"""dlsan.audit_split: planted duplicates, group and time leaks are found in every kind of split."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

import dlsan
from dlsan.testing import assert_clean_split

N_TRAIN, N_TEST = 300, 100
PLANTED = [(17, 5), (250, 60), (3, 99)]  # (train index, test index) of planted duplicates


def features(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)


def planted() -> tuple[np.ndarray, np.ndarray]:
    train, test = features(N_TRAIN, 1), features(N_TEST, 2)
    for i, j in PLANTED:
        test[j] = train[i]
    return train, test


def found_pairs(report: dlsan.SplitReport) -> list[tuple[int, int]]:
    (pair,) = report["duplicates"].details["across"]
    return sorted(tuple(p) for p in pair["examples"])


class DictDataset(Dataset[dict[str, Any]]):
    """Items like a recommender's: features, a label, the user and a timestamp."""

    def __init__(self, x: np.ndarray, users: np.ndarray, days: np.ndarray) -> None:
        self.x, self.users, self.days = torch.from_numpy(x), users, days

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"x": self.x[index], "label": int(index % 3), "user": int(self.users[index]),
                "day": int(self.days[index])}


# -- duplicates -------------------------------------------------------------------------------------


def test_duplicates_in_numpy_arrays() -> None:
    train, test = planted()
    report = dlsan.audit_split(train, test)
    result = report["duplicates"]
    assert result.status == "fail"
    assert result.details["across"][0]["count"] == len(PLANTED)
    assert found_pairs(report) == sorted(PLANTED)
    assert "3 train examples also in test (3.00% of test" in result.message


def test_duplicates_in_tensors_including_bfloat16() -> None:
    train, test = planted()
    report = dlsan.audit_split(torch.from_numpy(train).bfloat16(), torch.from_numpy(test).bfloat16())
    assert found_pairs(report) == sorted(PLANTED)


def test_duplicates_in_a_dataset_against_a_tensor_split() -> None:
    train, test = planted()
    train_set = TensorDataset(torch.from_numpy(train), torch.zeros(N_TRAIN, dtype=torch.long))
    report = dlsan.audit_split(train_set, (torch.from_numpy(test), torch.zeros(N_TEST, dtype=torch.long)), labels=1)
    assert found_pairs(report) == sorted(PLANTED)


def test_duplicates_in_dataframes_with_text_columns() -> None:
    pd = pytest.importorskip("pandas")
    train, test = planted()
    frame_train = pd.DataFrame({"a": train[:, 0], "b": train[:, 1], "text": [f"t{i}" for i in range(N_TRAIN)]})
    frame_test = pd.DataFrame({"a": test[:, 0], "b": test[:, 1], "text": [f"u{i}" for i in range(N_TEST)]})
    for i, j in PLANTED:
        frame_test.loc[j, "text"] = frame_train.loc[i, "text"]
    report = dlsan.audit_split(frame_train, frame_test)
    assert found_pairs(report) == sorted(PLANTED)
    frame_test.loc[5, "text"] = "changed"  # one field differs: no longer the same example
    assert dlsan.audit_split(frame_train, frame_test)["duplicates"].details["across"][0]["count"] == 2


def test_clean_splits_pass_and_duplicates_within_a_split_only_inform() -> None:
    train, test = features(N_TRAIN, 1), features(N_TEST, 2)
    train[10] = train[20]
    report = dlsan.audit_split(train, test)
    assert report["duplicates"].status == "pass"
    assert report["duplicates"].details["within"] == {"train": 1, "test": 0}
    assert report.passed


def test_labels_named_by_field_are_not_part_of_the_content() -> None:
    x = features(10, 3)
    train = (x, np.zeros(10, dtype=np.int64))
    test = (x[:2].copy(), np.ones(2, dtype=np.int64))  # same inputs, other labels: still the same examples
    assert dlsan.audit_split(train, test, labels=1)["duplicates"].details["across"][0]["count"] == 2
    assert dlsan.audit_split(train, test)["duplicates"].status == "pass"  # without labels=, the pair differs


# -- groups ---------------------------------------------------------------------------------------


def test_group_leak_in_a_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": np.arange(100.0), "user": np.arange(100) // 10})
    report = dlsan.audit_split(frame.iloc[:55], frame.iloc[55:], groups="user")
    result = report["group-overlap"]
    assert result.status == "fail"
    assert result.details["overlaps"][0]["count"] == 1
    assert result.details["overlaps"][0]["examples"] == ["5"]
    assert dlsan.audit_split(frame.iloc[:50], frame.iloc[50:], groups="user")["group-overlap"].status == "pass"


def test_group_leak_in_a_dataset_of_dicts() -> None:
    x = features(40, 4)
    users = np.arange(40) // 4
    days = np.arange(40)
    train, test = DictDataset(x[:30], users[:30], days[:30]), DictDataset(x[30:], users[30:] - 1, days[30:])
    report = dlsan.audit_split(train, test, groups="user", labels="label")
    assert report["group-overlap"].status == "fail"
    assert report["group-overlap"].details["overlaps"][0]["examples"] == ["6", "7"]


def test_group_leak_with_one_array_per_split_for_tensors() -> None:
    train, test = torch.randn(20, 3), torch.randn(10, 3)
    report = dlsan.audit_split(train, test, groups=(torch.arange(20) // 2, torch.arange(19, 29) // 2))
    assert report["group-overlap"].status == "fail"


def test_inverse_links_are_one_group_through_a_callable() -> None:
    # link prediction: (a, b) in train and (b, a) in test is the same pair
    train = np.array([[0, 1], [1, 2], [2, 3]])
    test = np.array([[3, 4], [2, 1]])
    report = dlsan.audit_split(train, test, groups=lambda edge: frozenset(edge.tolist()))
    result = report["group-overlap"]
    assert result.status == "fail"
    assert result.details["overlaps"][0]["examples"] == ["frozenset({1, 2})"]
    assert report["duplicates"].status == "pass"  # as rows, no edge is repeated


# -- time -----------------------------------------------------------------------------------------


def test_time_leak_in_numpy_with_datetimes() -> None:
    days = np.arange("2024-01-01", "2024-04-10", dtype="datetime64[D]")
    train, test = features(70, 5), features(30, 6)
    report = dlsan.audit_split(train, test, time=(days[:70], days[60:90]))
    result = report["time-order"]
    assert result.status == "fail"
    assert result.details["later_than_next"]["train"] == 9  # days 61..69 come after test's first day (60)
    assert "2024-03-10" in result.message  # train's last day
    assert dlsan.audit_split(train, test, time=(days[:70], days[70:]))["time-order"].status == "pass"


def test_time_leak_in_a_dataframe_and_a_dataset() -> None:
    pd = pytest.importorskip("pandas")
    stamps = pd.date_range("2024-01-01", periods=100, freq="h")
    frame = pd.DataFrame({"x": np.arange(100.0), "at": stamps}).sample(frac=1.0, random_state=0)
    train, test = frame.iloc[:80], frame.iloc[80:]  # a random split of time-stamped rows
    assert dlsan.audit_split(train, test, time="at")["time-order"].status == "fail"
    ordered = frame.sort_values("at")
    assert dlsan.audit_split(ordered.iloc[:80], ordered.iloc[80:], time="at")["time-order"].status == "pass"
    x = features(40, 7)
    dataset_report = dlsan.audit_split(
        DictDataset(x[:30], np.arange(30), np.arange(30)), DictDataset(x[30:], np.arange(30, 40), np.arange(25, 35)),
        time="day",
    )
    assert dataset_report["time-order"].status == "fail"


def test_validation_sits_between_train_and_test() -> None:
    x = features(90, 8)
    times = np.arange(90)
    report = dlsan.audit_split(
        (x[:60], times[:60]), (x[80:], times[80:]), val=(x[60:80], np.arange(65, 85)), time=1
    )
    assert [c.name for c in report.checks] == list(dlsan.runtime.split.CHECKS)
    result = report["time-order"]
    assert result.status == "fail"  # val runs to 84 but test starts at 80
    assert "val runs to 84 but test starts at 80" in result.message
    x_val = x[60:80].copy()
    x_val[0] = x[85]
    leak = dlsan.audit_split(x[:60], x[80:], val=x_val)["duplicates"].details["across"]
    assert leak == [{"splits": ["val", "test"], "count": 1, "val_fraction": 0.05, "test_fraction": 0.1,
                     "examples": [(0, 5)]}]


# -- labels ---------------------------------------------------------------------------------------


def test_a_test_label_never_seen_in_training_fails() -> None:
    labels = np.sort(np.random.default_rng(0).integers(0, 5, 100))  # data sorted by label, then cut
    x = features(100, 9)
    report = dlsan.audit_split(x[:80], x[80:], labels=(labels[:80], labels[80:]))
    result = report["label-distribution"]
    assert result.status == "fail"
    assert result.details["unseen_in_train"]["test"] == ["4"]
    assert result.details["total_variation"]["test"] > 0.5


def test_label_distribution_informs_on_a_stratified_split() -> None:
    labels = np.tile(np.arange(4), 25)
    report = dlsan.audit_split(features(80, 1), features(20, 2), labels=(labels[:80], labels[80:]))
    result = report["label-distribution"]
    assert result.status == "pass"
    assert result.details["total_variation"]["test"] == pytest.approx(0.0)
    assert result.details["counts"]["test"] == {"0": 5, "1": 5, "2": 5, "3": 5}


def test_float_labels_are_summarised() -> None:
    report = dlsan.audit_split(features(50, 1), features(20, 2), labels=(np.linspace(0, 1, 50), np.linspace(0, 1, 20)))
    result = report["label-distribution"]
    assert result.status == "pass"
    assert result.details["continuous"]["train"]["mean"] == pytest.approx(0.5)


# -- test size ------------------------------------------------------------------------------------


def test_ten_thousand_examples_cannot_tell_99_4_from_99_5() -> None:
    report = dlsan.audit_split(features(100, 1), features(10_000, 2), accuracy=0.995, resolution=0.001)
    result = report["test-size"]
    assert result.status == "fail"
    figures = result.details["splits"]["test"]
    assert figures["half_width"] == pytest.approx(0.00139, abs=2e-5)
    assert figures["resolvable_difference"] == pytest.approx(1.96 * math.sqrt(2 * 0.995 * 0.005 / 10_000), rel=1e-3)
    assert result.details["needed_size"] == math.ceil(2 * 0.995 * 0.005 * (1.959963984540054 / 0.001) ** 2)
    relaxed = dlsan.audit_split(features(100, 1), features(10_000, 2), accuracy=0.995, resolution=0.005)
    assert relaxed["test-size"].status == "pass"


def test_test_size_without_accuracy_uses_the_widest_case_and_only_informs() -> None:
    result = dlsan.audit_split(features(100, 1), features(400, 2))["test-size"]
    assert result.status == "pass"
    assert result.details["accuracy"] == 0.5
    assert "widest" in result.message


# -- interface ------------------------------------------------------------------------------------


def test_checks_without_their_key_are_skipped_and_the_report_is_json() -> None:
    report = dlsan.audit_split(features(10, 1), features(5, 2))
    assert {c.name: c.status for c in report.checks} == {
        "duplicates": "pass", "group-overlap": "skip", "time-order": "skip", "label-distribution": "skip",
        "test-size": "pass",
    }
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is True
    assert str(report).splitlines()[0] == "dlsan split audit: passed"


def test_bad_keys_and_splits_say_what_is_wrong() -> None:
    x = features(10, 1)
    with pytest.raises(KeyError, match="labels='y' is not a field of train"):
        dlsan.audit_split(x, x, labels="y")
    with pytest.raises(ValueError, match="3 values for test, which has 10 examples"):
        dlsan.audit_split(x, x, groups=(np.arange(10), np.arange(3)))
    with pytest.raises(TypeError, match="test: expected a torch Dataset"):
        dlsan.audit_split(x, 3)
    with pytest.raises(ValueError, match="accuracy"):
        dlsan.audit_split(x, x, accuracy=99.5)


def test_assert_clean_split() -> None:
    train, test = planted()
    with pytest.raises(AssertionError, match="duplicates"):
        assert_clean_split(train, test)
    assert assert_clean_split(features(10, 1), features(5, 2)).passed


def test_works_without_pandas_installed() -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import numpy as np, dlsan\n"
        "x = np.arange(12.0).reshape(6, 2)\n"
        "r = dlsan.audit_split(x[:4], x[3:], labels=(np.arange(4), np.arange(3)))\n"
        "assert r['duplicates'].details['across'][0]['count'] == 1, r\n"
        "assert 'pandas' not in sys.modules or sys.modules['pandas'] is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_content_names_the_fields_that_make_an_example() -> None:
    pd = pytest.importorskip("pandas")
    train = pd.DataFrame({"user": [1, 2, 3], "review": ["good", "bad", "fine"], "stars": [5, 1, 3]})
    test = pd.DataFrame({"user": [4, 5], "review": ["bad", "great"], "stars": [2, 5]})
    by_default = dlsan.audit_split(train, test, labels="stars")  # user and review: no row repeats
    assert by_default["duplicates"].status == "pass"
    by_review = dlsan.audit_split(train, test, labels="stars", content=["review"])
    assert by_review["duplicates"].details["across"][0]["examples"] == [(1, 0)]
    with pytest.raises(KeyError, match="'text'"):
        dlsan.audit_split(train, test, content=["text"])


def test_callable_keys_see_dataframe_rows_as_dicts() -> None:
    pd = pytest.importorskip("pandas")
    train = pd.DataFrame({"src": [1, 2, 3], "dst": [2, 3, 4]})
    test = pd.DataFrame({"src": [3, 9], "dst": [2, 8]})  # (3, 2) is the inverse of (2, 3)
    report = dlsan.audit_split(train, test, groups=lambda row: frozenset((row["src"], row["dst"])))
    assert report["group-overlap"].details["overlaps"][0]["examples"] == ["frozenset({2, 3})"]
