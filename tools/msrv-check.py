#!/usr/bin/env python3
"""The MSRV check CI can make without a second toolchain: no crate in the dependency
graph may declare a `rust-version` newer than the workspace's. (The workspace's own use
of the standard library is checked by clippy's `incompatible_msrv` lint, which reads the
same `rust-version`; building with that exact toolchain needs it installed, which this
project's machines cannot download.)"""

import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    metadata = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", "x86_64-unknown-linux-gnu"]
        )
    )
    members = set(metadata["workspace_members"])
    ours = {pkg["rust_version"] for pkg in metadata["packages"]
            if pkg["id"] in members and pkg.get("rust_version")}
    if len(ours) != 1:
        sys.exit(f"msrv: the workspace's members declare {sorted(ours) or 'no'} rust-version; expected one")
    msrv = ours.pop()
    newer = sorted(
        f"{pkg['name']} {pkg['version']} needs {pkg['rust_version']}"
        for pkg in metadata["packages"]
        if pkg.get("rust_version") and version(pkg["rust_version"]) > version(msrv)
    )
    if newer:
        sys.exit(f"msrv: rust-version is {msrv}, but\n  " + "\n  ".join(newer))
    print(f"msrv: {len(metadata['packages'])} crates, none newer than rust-version {msrv}")


if __name__ == "__main__":
    main()
