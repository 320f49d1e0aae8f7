"""faiss IndexBinaryFlat, one thread, on the hashes and queries `stockroom-dupes-bench` wrote.

    python tools/dupes-bench.py HASHES QUERIES RUNS THRESHOLD

For each photo, its 24 query hashes (whole, trimmed, centre crop x eight rotations/flips)
go to one range_search for every stored hash within THRESHOLD (faiss returns distances
strictly below its radius, so the radius is THRESHOLD + 1). Prints the median
milliseconds per photo and the number of (photo, stored hash) matches.
"""

import json
import sys
import time

import faiss
import numpy as np

hashes_path, queries_path, runs, threshold = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
faiss.omp_set_num_threads(1)
stored = np.fromfile(hashes_path, dtype=np.uint8).reshape(-1, 32)
queries = np.fromfile(queries_path, dtype=np.uint8).reshape(-1, 24, 32)
started = time.perf_counter()
index = faiss.IndexBinaryFlat(256)
index.add(stored)
build = time.perf_counter() - started

matches = 0
for photo in queries:
    lims, _, ids = index.range_search(photo, threshold + 1)
    matches += len(set(ids.tolist()))

per_photo = []
for _ in range(runs):
    started = time.perf_counter()
    for photo in queries:
        index.range_search(photo, threshold + 1)
    per_photo.append((time.perf_counter() - started) * 1000 / len(queries))
per_photo.sort()
print(json.dumps({
    "hashes": len(stored),
    "photos": len(queries),
    "threshold": threshold,
    "matches": matches,
    "build_seconds": round(build, 2),
    "faiss_ms_per_photo": round(per_photo[len(per_photo) // 2], 3),
}))
