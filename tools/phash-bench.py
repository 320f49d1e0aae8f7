"""Compares Stockroom's PDQ with the reference and its hashing speed with Python peers.

    python tools/phash-bench.py compat DUMP.jsonl
        DUMP.jsonl from `stockroom-phash-bench dump`: hashes the very pixels Stockroom
        hashed with `pdqhash` (Meta's C++ reference, wrapped) and reports how many of our
        hashes of quality >= 80 are within 10 bits, and whether the eight dihedral hashes
        derived in the DCT agree with the reference's.

    python tools/phash-bench.py file DUMP.jsonl
        The PDQ other platforms compute: the reference on PIL's full decode of each file
        (EXIF orientation applied), against ours as `stockroom hash` prints it and as it
        was before (on the pixels of a decode to 200 px, as they are), by image set.

    python tools/phash-bench.py speed RUNS FILE...
        Times `pdqhash` and `imagehash.phash` on one thread, each from the file (PIL decode
        included, as ours includes decoding), and PIL's decode alone, per file, RUNS runs;
        prints them as JSON in the shape `stockroom-phash-bench speed` prints.

    python tools/phash-bench.py report DIR
        Images/s by format (each file's median run) of each way, and the ratios ours / theirs, from
        the timings DIR/ours.*.json and DIR/peers.*.json (one or more runs each).

    python tools/phash-bench.py all-cpus RUNS STOCKROOM FILE...
        Images/s on every CPU: the `stockroom hash` binary at STOCKROOM on all the files,
        against each peer as one process and as a pool of one process per CPU.
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
        d = distance(reference, row["pixels_pdq"])
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


def file_check(dump):
    """Our published PDQ, now and before, against the reference on the full decode."""
    from PIL import ImageOps

    rows = [json.loads(line) for line in open(dump)]
    sets = {}
    for row in rows:
        image = Image.open(row["file"])
        # The reference has no rule for transparency (PIL drops alpha, we composite over
        # white), so transparent images are counted apart.
        transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        vector, quality = pdqhash.compute(np.asarray(ImageOps.exif_transpose(image).convert("RGB")))
        if quality < 80:
            continue
        reference = to_hex(vector)
        name = row["file"].split("/")
        group = "bundled" if "photos" in name else name[-2]
        if transparent:
            group += " (transparent)"
        sets.setdefault(group, []).append(
            (distance(reference, row["pdq"]), distance(reference, row["before_pdq"]), name[-1])
        )
    apart = sorted(distance(row["pdq"], row["lookup_pdq"]) for row in rows)
    print(f"printed PDQ (a JPEG's luma alone) vs the one ingest indexes (colour decode): "
          f"median {apart[len(apart) // 2]} bits, worst {apart[-1]}, {len(apart)} images")
    print("PDQ against the reference on the full decode, images of quality >= 80: within 10 bits (median, worst)")
    print(f"{'set':40} {'images':>6} | {'now':>16} | {'before':>16}")
    for group, found in sorted(sets.items()):
        def summary(index):
            values = sorted(f[index] for f in found)
            within = sum(v <= 10 for v in values)
            return f"{within:3}/{len(values):<3} ({values[len(values) // 2]:2}, {values[-1]:3})"

        print(f"{group:40} {len(found):6} | {summary(0):>16} | {summary(1):>16}")
        far = [f"{name} {now}" for now, _, name in found if now > 10]
        if far:
            print(f"{'':40} more than 10 bits now: {', '.join(far)}")


def time_each(files, runs, ways):
    """Seconds per file for each way; each file all the ways in turn, so that a slow spell
    of the machine falls on all of them."""
    # Untimed, one file of each format every way: imports and set-up are not charged.
    firsts = {}
    for path in files:
        firsts.setdefault(path.rsplit(".", 1)[-1].lower(), path)
    for path in firsts.values():
        for one in ways.values():
            one(path)
    seconds = {name: [] for name in ways}
    for _ in range(runs):
        for times in seconds.values():
            times.append([])
        for path in files:
            for name, one in ways.items():
                started = time.perf_counter()
                one(path)
                seconds[name][-1].append(time.perf_counter() - started)
    return seconds


def pdq_one(path):
    with Image.open(path) as image:
        pdqhash.compute(np.asarray(image.convert("RGB")))


def phash_one(path):
    import imagehash

    with Image.open(path) as image:
        imagehash.phash(image)


def decode_one(path):
    # What both peers do before hashing: PIL's full-size decode.
    with Image.open(path) as image:
        image.convert("RGB")


def speed(runs, files):
    ways = {"pdqhash": pdq_one, "imagehash": phash_one, "decode": decode_one}
    print(json.dumps({"files": files, "seconds": time_each(files, runs, ways)}))


def all_cpus(runs, ours, files):
    """Images/s on every CPU, as each tool is run: `stockroom hash` on all the files (it
    hashes on every CPU itself), each peer as one Python process (a plain loop, as the
    libraries are used) and as a pool of one process per CPU; median wall time of RUNS."""
    import multiprocessing
    import subprocess

    cpus = multiprocessing.cpu_count()

    def median_rate(one):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            one()
            times.append(time.perf_counter() - started)
        return len(files) / sorted(times)[len(times) // 2]

    def stockroom():
        subprocess.run([ours, "hash", *files], check=True, stdout=subprocess.DEVNULL)

    rates = {"stockroom": median_rate(stockroom)}
    with multiprocessing.Pool(cpus) as pool:
        for name, one in (("pdqhash", pdq_one), ("imagehash", phash_one)):
            rates[name] = median_rate(lambda: [one(path) for path in files])
            rates[f"{name}_pool"] = median_rate(lambda: pool.map(one, files, chunksize=1))
    ours_rate = rates["stockroom"]
    print(f"every CPU ({cpus}), {len(files)} files, wall time, median of {runs} runs:")
    print(f"  stockroom hash {ours_rate:.1f} img/s")
    for name in ("pdqhash", "imagehash"):
        one, pooled = rates[name], rates[f"{name}_pool"]
        print(
            f"  {name:9}: one process {one:5.2f} img/s ({ours_rate / one:4.1f}x); "
            f"{cpus} processes {pooled:5.2f} img/s ({ours_rate / pooled:4.1f}x)"
        )


FORMATS = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "webp": (".webp",)}


def rate(run_seconds, chosen):
    """Images/s of the chosen files: their count over the sum of each file's median time
    across the runs (a slow spell of the machine then spoils one file's run, not a run)."""
    medians = [sorted(run[i] for run in run_seconds)[len(run_seconds) // 2] for i in chosen]
    return len(chosen) / sum(medians)


def load_runs(paths):
    """The runs of several timing files of the same files, as one."""
    merged = None
    for path in sorted(paths):
        timing = json.load(open(path))
        if merged is None:
            merged = timing
        elif timing["files"] != merged["files"]:
            sys.exit(f"{path} times other files")
        else:
            for way, runs in timing["seconds"].items():
                merged["seconds"][way] += runs
    return merged


def report(directory):
    import glob

    ours = load_runs(glob.glob(f"{directory}/ours.*.json"))
    peers = load_runs(glob.glob(f"{directory}/peers.*.json"))
    if ours["files"] != peers["files"]:
        sys.exit("the two timings are of different files")
    files = ours["files"]
    subsets = {name: [i for i, f in enumerate(files) if f.lower().endswith(ends)] for name, ends in FORMATS.items()}
    subsets["all"] = list(range(len(files)))
    print(
        "images/s (per file, the median run); 'ceiling' is our decode alone against the peer: the ratio if our hashing took no time\n"
        f"{'files':10} | {'hash':>6} {'+lookup':>7} {'decode':>6} | {'pdqhash':>7} {'ratio':>6} {'ceiling':>7}"
        f" | {'imagehash':>9} {'ratio':>6} {'ceiling':>7} | {'PIL decode':>10}"
    )
    for name, chosen in subsets.items():
        if not chosen:
            continue
        mine = {
            way: rate(ours["seconds"][way], chosen)
            for way in ("hash", "lookup", "decode", "hash_before", "lookup_before")
        }
        theirs = {way: rate(peers["seconds"][way], chosen) for way in ("pdqhash", "imagehash", "decode")}
        print(
            f"{name:5} {len(chosen):4} | {mine['hash']:6.1f} {mine['lookup']:7.1f} {mine['decode']:6.1f}"
            f" | {theirs['pdqhash']:7.2f} {mine['hash'] / theirs['pdqhash']:5.1f}x {mine['decode'] / theirs['pdqhash']:6.1f}x"
            f" | {theirs['imagehash']:9.2f} {mine['hash'] / theirs['imagehash']:5.1f}x {mine['decode'] / theirs['imagehash']:6.1f}x"
            f" | {theirs['decode']:10.2f}"
        )
    print(
        "\nours now against before PDQ was the file's (a decode to 200 px, PDQ of its pixels as they are)\n"
        f"{'files':10} | {'hash':>6} {'before':>6} {'ratio':>6} | {'+lookup':>7} {'before':>6} {'ratio':>6}"
    )
    for name, chosen in subsets.items():
        if not chosen:
            continue
        now = {way: rate(ours["seconds"][way], chosen) for way in ("hash", "lookup")}
        then = {way: rate(ours["seconds"][way + "_before"], chosen) for way in ("hash", "lookup")}
        print(
            f"{name:5} {len(chosen):4} | {now['hash']:6.1f} {then['hash']:6.1f} {now['hash'] / then['hash']:5.2f}x"
            f" | {now['lookup']:7.1f} {then['lookup']:6.1f} {now['lookup'] / then['lookup']:5.2f}x"
        )


if __name__ == "__main__":
    if sys.argv[1] == "compat":
        compat(sys.argv[2])
    elif sys.argv[1] == "file":
        file_check(sys.argv[2])
    elif sys.argv[1] == "speed":
        speed(int(sys.argv[2]), sys.argv[3:])
    elif sys.argv[1] == "report":
        report(sys.argv[2])
    elif sys.argv[1] == "all-cpus":
        all_cpus(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
