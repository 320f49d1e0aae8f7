"""Compares Stockroom's PDQ with the reference and its hashing speed with Python peers.

    python tools/phash-bench.py compat DUMP.jsonl
        DUMP.jsonl from `stockroom-phash-bench dump`: hashes the very pixels Stockroom
        hashed with `pdqhash` (Meta's C++ reference, wrapped) and reports how many of our
        hashes of quality >= 80 are within 10 bits, and whether the eight dihedral hashes
        derived in the DCT agree with the reference's.

    python tools/phash-bench.py speed RUNS FILE...
        Images/s of `pdqhash` and of `imagehash.phash` on one thread, each from the file
        (PIL decode included, as ours includes decoding), median of RUNS.
"""

import json
import sys
import time

import numpy as np
import pdqhash
from PIL import Image

# pdqhash.compute_dihedral's order, named as Stockroom names the transform each undoes.
DIHEDRAL = ["identity", "rot90", "rot180", "rot270", "flip_rot180", "flip", "flip_rot270", "flip_rot90"]


def to_hex(vector):
    # pdqhash returns bit 255 first; the reference's hex is the big-endian number.
    value = 0
    for bit in vector:
        value = value << 1 | int(bit)
    return f"{value:064x}"


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def compat(dump):
    rows = [json.loads(line) for line in open(dump)]
    good, within, exact, dihedral_ok, quality_same = 0, 0, 0, 0, 0
    worst = 0
    for row in rows:
        pixels = np.fromfile(row["raw"], dtype=np.uint8).reshape(row["height"], row["width"], 3)
        vector, quality = pdqhash.compute(pixels)
        reference = to_hex(vector)
        d = distance(reference, row["pdq"])
        quality_same += quality == row["quality"]
        vectors, _ = pdqhash.compute_dihedral(pixels)
        dihedral_ok += all(
            distance(to_hex(v), row["dihedral"][name]) <= 10 for v, name in zip(vectors, DIHEDRAL)
        )
        if quality >= 80:
            good += 1
            within += d <= 10
            exact += d == 0
            worst = max(worst, d)
    print(
        f"reference comparison: {len(rows)} images, {good} of quality >= 80: "
        f"{within}/{good} within 10 bits ({100 * within / max(good, 1):.1f}%), {exact} identical, "
        f"worst {worst} bits; quality equal on {quality_same}/{len(rows)}; "
        f"all 8 dihedral hashes within 10 bits on {dihedral_ok}/{len(rows)}"
    )


def median_rate(files, runs, one):
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for path in files:
            one(path)
        rates.append(len(files) / (time.perf_counter() - started))
    rates.sort()
    return rates[len(rates) // 2]


def speed(runs, files):
    import imagehash

    def pdq(path):
        with Image.open(path) as image:
            pdqhash.compute(np.asarray(image.convert("RGB")))

    def phash(path):
        with Image.open(path) as image:
            imagehash.phash(image)

    print(json.dumps({
        "images": len(files),
        "pdqhash_images_per_second": round(median_rate(files, runs, pdq), 2),
        "imagehash_images_per_second": round(median_rate(files, runs, phash), 2),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "compat":
        compat(sys.argv[2])
    elif sys.argv[1] == "speed":
        speed(int(sys.argv[2]), sys.argv[3:])
    else:
        sys.exit(__doc__)
