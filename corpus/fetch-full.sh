#!/usr/bin/env bash
# Fetches the full benchmark corpus: every image in Debian's mate-backgrounds,
# gnome-backgrounds and ukui-wallpapers packages, unpacked to corpus/full/ with each
# package's copyright file, plus a manifest that `stockroom ingest --manifest` reads.
#
#   corpus/fetch-full.sh [DIR PACKAGE...]
#
# fetches other packages' images to corpus/DIR instead: `holdout plasma-workspace-wallpapers`
# is the set of photos nothing was tuned on that tools/phash-bench.sh checks PDQ against.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/${1:-full}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=(mate-backgrounds gnome-backgrounds ukui-wallpapers)
if [ $# -gt 1 ]; then packages=("${@:2}"); fi

if ! apt-cache show "${packages[0]}" >/dev/null 2>&1; then
  apt-get update -qq
fi
mkdir -p "$out"
(cd "$work" && apt-get download "${packages[@]}" >/dev/null)
for deb in "$work"/*.deb; do
  package=$(dpkg-deb -f "$deb" Package)
  version=$(dpkg-deb -f "$deb" Version)
  dpkg-deb -x "$deb" "$work/$package"
  mkdir -p "$out/$package"
  cp "$work/$package/usr/share/doc/$package/copyright" "$out/$package/COPYRIGHT"
  # Plasma's wallpapers sit under usr/share/wallpapers/NAME/contents/images*/, beside a
  # screenshot of each that is left out.
  roots=()
  for root in backgrounds wallpapers; do
    [ -d "$work/$package/usr/share/$root" ] && roots+=("$work/$package/usr/share/$root")
  done
  find "${roots[@]}" -type f \
    \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) \
    ! -iname 'screenshot.*' -size +1k |
    while read -r image; do
      relative=${image#"$work/$package/usr/share/"}
      relative=${relative#backgrounds/}
      flat=$(echo "$relative" | tr '/' '_')
      cp "$image" "$out/$package/$flat"
      printf '%s\t%s\t%s\n' "$package/$flat" "$package" "$version $relative"
    done
done > "$work/list.tsv"

python3 - "$work/list.tsv" "$out/manifest.jsonl" <<'PY'
import json, re, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
with open(sys.argv[2], "w") as manifest:
    for n, (file, package, source) in enumerate(sorted(rows)):
        stem = re.sub(r"\.[a-z]+$", "", file.split("/")[-1], flags=re.I)
        words = [w.lower() for w in re.split(r"[^A-Za-z]+", stem) if len(w) > 2]
        manifest.write(json.dumps({
            "file": file,
            "title": " ".join(w.capitalize() for w in words) or stem,
            "keywords": sorted(set(words + ["wallpaper", package.split("-")[0]])),
            "author": package,
            "collection": "free" if n % 3 else "unlimited",
            "language": "en",
            "copyright": f"see {package}/COPYRIGHT",
            "license": f"see {package}/COPYRIGHT",
            "source": f"{package} {source}",
        }, ensure_ascii=False) + "\n")
PY
echo "$(wc -l < "$out/manifest.jsonl") images in $out ($(du -sh "$out" | cut -f1))"
