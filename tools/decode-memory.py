#!/usr/bin/env python3
"""Writes the large PNGs of issue 24's item 1: 16-bit RGBA, 10,900 × 10,900 (118.8 MP,
under the 120 MP limit), about a megabyte on the wire and 950 MB decoded whole. Each row
is one colour (so it compresses), different per file (so no two are exact duplicates).

    tools/decode-memory.py OUT_DIR COUNT [SIDE]

Half of them are Adam7-interlaced, which the decoder once took whole."""
import struct
import sys
import zlib
from pathlib import Path

ADAM7 = [(0, 8, 0, 8), (4, 8, 0, 8), (0, 4, 4, 8), (2, 4, 0, 4), (0, 2, 2, 4), (1, 2, 0, 2), (0, 1, 1, 2)]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write(path: Path, side: int, seed: int, interlaced: bool) -> None:
    deflate = zlib.compressobj(6)
    idat = []
    passes = ADAM7 if interlaced else [(0, 1, 0, 1)]
    for x0, dx, y0, dy in passes:
        count = max(0, (side - x0 + dx - 1) // dx)
        if count == 0 or y0 >= side:
            continue
        for y in range(y0, side, dy):
            level = (y * 65535 // side + seed * 9973) % 65536
            pixel = struct.pack(">HHHH", level, 65535 - level, (level * 7 + seed) % 65536, 65535)
            idat.append(deflate.compress(b"\0" + pixel * count))
    idat.append(deflate.flush())
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 1 if interlaced else 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b""))


def main() -> None:
    out, count = Path(sys.argv[1]), int(sys.argv[2])
    side = int(sys.argv[3]) if len(sys.argv) > 3 else 10_900
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        write(out / f"deep-{i}.png", side, i + 1, interlaced=i % 2 == 1)


if __name__ == "__main__":
    main()
