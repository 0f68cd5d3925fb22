"""reports.grouping.unique_ids gives what np.unique gives, on the paths it counts and the ones it passes on."""

import numpy as np
import pytest

from reports.grouping import unique_ids

CASES = {
    "close ids": np.array([7, 3, 3, 9, 7, 7, 4], dtype=np.int64),
    "negative": np.array([-2, 5, -2, 0], dtype=np.int64),
    "far apart": np.array([1, 10**12, 1, 5 * 10**11], dtype=np.int64),
    "small type": np.array([3, 1, 3], dtype=np.int16),
    "small type, wide span": np.array([127, -128, 0, 127], dtype=np.int8),
    "largest unsigned": np.array([2**64 - 1, 2**64 - 3, 2**64 - 1], dtype=np.uint64),
    "unsigned": np.array([3, 1, 3], dtype=np.uint32),
    "one value": np.array([42, 42, 42], dtype=np.int64),
    "empty": np.zeros(0, dtype=np.int64),
    "floats": np.array([2.5, 1.0, 2.5]),
    "random": np.random.default_rng(0).integers(1_000, 3_000, size=5_000),
}


@pytest.mark.parametrize("values", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("counts", [False, True])
def test_unique_ids_matches_numpy(values, inverse, counts):
    expected = np.unique(values, return_inverse=inverse, return_counts=counts)
    actual = unique_ids(values, return_inverse=inverse, return_counts=counts)

    if not (inverse or counts):
        expected, actual = (expected,), (actual,)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.dtype == want.dtype or got.dtype.kind == want.dtype.kind == "i"
        assert got.tolist() == want.tolist()
