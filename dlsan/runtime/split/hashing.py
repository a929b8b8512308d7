"""Content digests of examples: 64 bits per row over the bytes of its content fields.

Fixed-size numeric fields (a NumPy array, a tensor, a stacked chunk of equally shaped tensors
from a Dataset) are hashed from their raw bytes, a whole chunk at a time: short rows by vectorised
SplitMix64 mixing, one 8-byte word at a time, long rows by BLAKE2b.  Other values are encoded one
by one (text as UTF-8, arrays and tensors as their bytes, containers element by element, anything
else pickled) and hashed with BLAKE2b.  Equal content in the same layout gives equal digests
whatever the split's kind, so a tensor test split is compared with a Dataset train split.  With
64-bit digests the chance of one false duplicate between two splits of a million examples each is
about 5e-8.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from hashlib import blake2b
from typing import Any

import numpy as np
import torch

from dlsan.runtime.split.sources import Column

DIGEST_SIZE = 8


def row_digests(columns: Sequence[Column], rows: int) -> np.ndarray:
    """One uint64 digest per row of the given content columns."""
    blocks = [_byte_rows(column, rows) for column in columns if isinstance(column, np.ndarray)]
    cells = [column for column in columns if not isinstance(column, np.ndarray)]
    digests = None
    if blocks:
        block = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        digests = _word_digests(block) if block.shape[1] <= WORD_HASH_BYTES else _blake_digests(block)
    if cells:
        encoded = _cell_digests(cells, rows)
        digests = encoded if digests is None else _mix(digests ^ _mix(encoded))
    return digests if digests is not None else np.zeros(rows, np.uint64)


#: rows up to this many bytes are hashed by vectorised 64-bit mixing, one 8-byte word at a time
#: across the whole chunk; longer rows (images) by BLAKE2b per row, whose C loop then dominates.
WORD_HASH_BYTES = 512
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea & Flood, OOPSLA 2014): every input bit flips each
    output bit with probability about 1/2."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    mixed: np.ndarray = h ^ (h >> np.uint64(31))
    return mixed


def _word_digests(block: np.ndarray) -> np.ndarray:
    rows, width = block.shape
    padded = -width % 8
    if padded:
        block = np.concatenate([block, np.zeros((rows, padded), np.uint8)], axis=1)
    words = np.ascontiguousarray(block).view("<u8")
    with np.errstate(over="ignore"):
        h = np.full(rows, _mix(np.array([width], np.uint64))[0], np.uint64)
        for k in range(words.shape[1]):
            h = _mix(h ^ _mix(words[:, k] + np.uint64(k + 1) * _GOLDEN))
    return h


def _blake_digests(block: np.ndarray) -> np.ndarray:
    view = block.reshape(-1).data
    width = block.shape[1]
    out = bytearray(DIGEST_SIZE * block.shape[0])
    for row in range(block.shape[0]):
        out[row * DIGEST_SIZE : (row + 1) * DIGEST_SIZE] = blake2b(
            view[row * width : (row + 1) * width], digest_size=DIGEST_SIZE
        ).digest()
    return np.frombuffer(bytes(out), dtype=np.uint64)


def _cell_digests(cells: Sequence[Column], rows: int) -> np.ndarray:
    out = bytearray(DIGEST_SIZE * rows)
    for row in range(rows):
        digest = blake2b(digest_size=DIGEST_SIZE)
        for column in cells:
            digest.update(b"\x1f")
            digest.update(encode(column[row]))
        out[row * DIGEST_SIZE : (row + 1) * DIGEST_SIZE] = digest.digest()
    return np.frombuffer(bytes(out), dtype=np.uint64)


def _byte_rows(column: np.ndarray, rows: int) -> np.ndarray:
    """The column as a contiguous ``(rows, bytes per row)`` uint8 matrix."""
    contiguous = np.ascontiguousarray(column)
    return contiguous.reshape(rows, -1).view(np.uint8) if contiguous.size else np.zeros((rows, 0), np.uint8)


def encode(value: Any) -> bytes:
    """Bytes that stand for ``value``'s content."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        return bytes(tensor.view(torch.uint8).numpy()) if tensor.numel() else b""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.ascontiguousarray(value).tobytes()
    if value is None or isinstance(value, (bool, int, float, complex)):
        return repr(value).encode()
    if isinstance(value, Mapping):
        return b"{" + b"\x1e".join(encode(k) + b":" + encode(v) for k, v in sorted(value.items(), key=repr)) + b"}"
    if isinstance(value, (tuple, list)):
        return b"[" + b"\x1e".join(encode(item) for item in value) + b"]"
    tobytes = getattr(value, "tobytes", None)  # PIL images and the like
    if callable(tobytes):
        return bytes(tobytes())
    return pickle.dumps(value, protocol=4)
