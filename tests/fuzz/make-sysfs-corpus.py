#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-sysfs from the fixture trees, in the fuzzer's input format
(see fuzz-sysfs.c): one record per line, "d", "f" or "l", TAB, the path, TAB, the content or
link target, C-escaped. Run it after adding a fixture:

    tests/fuzz/make-sysfs-corpus.py tests/fixtures tests/fuzz/corpus/sysfs
"""

import os
import sys


def escape(text):
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t"))


def encode(root):
    records = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(full):
                records.append(f"l\t{rel}\t{escape(os.readlink(full))}")
            elif os.path.isdir(full):
                records.append(f"d\t{rel}")
            else:
                with open(full, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                records.append(f"f\t{rel}\t{escape(text)}")
    return "\n".join(records) + "\n"


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(fixtures)):
        root = os.path.join(fixtures, name)
        if os.path.isdir(os.path.join(root, "sys")):
            with open(os.path.join(out, name), "w") as f:
                f.write(encode(root))


if __name__ == "__main__":
    main()
