"""Q4_0 dequantisation on hand-built blocks: layout, nibble order and scale."""

import numpy as np
import pytest

from xstilts.models.builtin import dequantize_q4_0


def _block(scale: float, nibbles: list[int]) -> bytes:
    """One 18-byte Q4_0 block: float16 scale, then weights 0..15 low and 16..31 high nibbles."""
    assert len(nibbles) == 32
    packed = bytes(lo | (hi << 4) for lo, hi in zip(nibbles[:16], nibbles[16:]))
    return np.float16(scale).tobytes() + packed


def test_single_block_with_scale_half():
    nibbles = list(range(16)) + list(range(15, -1, -1))
    weights = dequantize_q4_0(_block(0.5, nibbles), 32)
    expected = (np.array(nibbles, dtype=np.float32) - 8) * 0.5
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, expected)
    assert weights[0] == -4.0 and weights[8] == 0.0 and weights[15] == 3.5 and weights[16] == 3.5


def test_blocks_keep_their_own_scale_and_trailing_weights_are_cut():
    raw = _block(0.5, [9] * 32) + _block(-2.0, [0] * 32)
    weights = dequantize_q4_0(np.frombuffer(raw, dtype=np.uint8), 40)
    np.testing.assert_array_equal(weights[:32], np.full(32, 0.5, dtype=np.float32))
    np.testing.assert_array_equal(weights[32:], np.full(8, 16.0, dtype=np.float32))


def test_wrong_byte_count_is_rejected():
    with pytest.raises(ValueError, match="cannot hold"):
        dequantize_q4_0(_block(1.0, [8] * 32), 33)
