"""libvips at its best honest use, as a service links it: loaded once, one thread, shrink-on-load.

Usage: vips_batch.py SET OUTDIR FILE...   (SET: `two` = 1024 px + 256 px JPEG q80; `full` = 2048/1024/256 px, each
JPEG q80 and WebP q80). Every output is made from the previous, larger one held in memory, as mediamill does, so
each file is decoded once. Writes OUTDIR/<n>-<size>.<ext> and prints one JSON line: the CPU seconds spent on the
files (library loading and interpreter start excluded) and the per-stage split from libvips' own timing.
"""
import json
import os
import sys
import time

os.environ["VIPS_CONCURRENCY"] = "1"
import pyvips  # noqa: E402  (the environment must be set before libvips loads)

pyvips.cache_set_max(0)  # no result cache across files: each file is work done once


def save(img, path, fmt):
    if fmt == "jpg":
        img.jpegsave(path, Q=80, strip=True)
    else:
        img.webpsave(path, Q=80, strip=True)


def one(f, n, out, sizes, formats, stages):
    """Makes every output of one file, adding each step's CPU time to `stages`."""
    t = time.process_time()
    # thumbnail: shrink-on-load, EXIF orientation applied, colour to sRGB; copy_memory renders it once.
    img = pyvips.Image.thumbnail(f, sizes[0], size="down").copy_memory()
    stages["decode_and_first_resize"] += time.process_time() - t
    for i, s in enumerate(sizes):
        if i > 0:
            t = time.process_time()
            img = img.thumbnail_image(s, size="down").copy_memory()
            stages["later_resizes"] += time.process_time() - t
        t = time.process_time()
        for fmt in formats:
            save(img, os.path.join(out, f"{n}-{s}.{fmt}"), fmt)
        stages["encode"] += time.process_time() - t


def main():
    which, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    sizes = [1024, 256] if which == "two" else [2048, 1024, 256]
    formats = ["jpg"] if which == "two" else ["jpg", "webp"]
    stages = {"decode_and_first_resize": 0.0, "later_resizes": 0.0, "encode": 0.0}
    cpu = 0.0
    for n, f in enumerate(files):
        # Each file once untimed, then timed: the first use of a file (its bytes and the buffers of its size coming
        # into the caches and the allocator) is left out here as it is on mediamill's side of the benchmark.
        one(f, n, out, sizes, formats, {k: 0.0 for k in stages})
        start = time.process_time()
        one(f, n, out, sizes, formats, stages)
        cpu += time.process_time() - start
    print(json.dumps({"cpu": cpu, "files": len(files), "stages": stages,
                      "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"}))


main()
