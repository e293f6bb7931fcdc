#!/usr/bin/env python3
"""Fail when a source file includes across a forbidden layer edge.

The layers and their rules are the table in docs/architecture.md; this is that table as data.
Every `#include "..."` of every C file under agent/ and win32/ is resolved to the layer of the
header it names; a header no layer owns (a typo, a stray copy) is an error too.
"""

import pathlib
import re
import sys

# layer -> the layers its files may include (a layer may always include itself)
ALLOWED = {
    "base": set(),
    "config": {"base"},
    "protocol": {"base", "config", "schema"},
    "channel": {"base"},
    "system": {"base", "build-config"},
    "commands": {"base", "system", "schema", "agent", "config", "build-config"},
    # the process: wires the layers together, so it may include every one of them
    "agent": {"base", "protocol", "channel", "system", "commands", "schema", "agent", "config",
              "build-config", "win32"},
    "win32": {"base", "protocol", "channel", "system", "commands", "schema", "agent", "config",
              "build-config", "win32"},
    # what the generated schema code includes
    "schema": {"protocol", "base"},
}

# why an edge is forbidden, said when it is crossed
REASONS = {
    ("channel", "protocol"): "the channel moves bytes and never parses JSON",
    ("protocol", "system"): "the protocol never touches disks or the system",
    ("protocol", "channel"): "the protocol is pure: it gets text and gives reply lines",
    ("system", "protocol"): "the system model knows no wire format",
    ("system", "schema"): "the system model knows no wire format",
    ("system", "commands"): "the system model never calls up into the commands",
    ("commands", "protocol"): "commands see typed arguments, never JSON or framing",
    ("commands", "channel"): "commands never see the transport",
}

# headers that are not files in the tree: generated at build time
GENERATED = {"qa-schema.h": "schema", "qa-build-config.h": "build-config"}
# top-level headers that are layers of their own, for finer rules than "agent"
SPECIAL = {"config.h": "config"}


def layer_of(path, top):
    rel = path.relative_to(top)
    parts = rel.parts
    if parts[0] == "win32":
        return "win32"
    if parts[0] == "agent":
        if len(parts) == 2:
            return SPECIAL.get(parts[1], "agent")
        return parts[1]
    return None


def main():
    top = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    sources = [p for d in ("agent", "win32") for p in (top / d).rglob("*.[ch]")
               if "tests" not in p.relative_to(top).parts]
    owner = dict(GENERATED)
    for p in sources:
        if p.suffix == ".h":
            layer = layer_of(p, top)
            if p.name in owner and owner[p.name] != layer:
                print(f"{p.relative_to(top)}: header name also used in layer {owner[p.name]}")
                return 1
            owner[p.name] = layer
    errors = []
    include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    for p in sorted(sources):
        layer = layer_of(p, top)
        allowed = ALLOWED[layer] | {layer}
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            m = include.match(line)
            if not m:
                continue
            name = pathlib.PurePosixPath(m.group(1)).name
            target = owner.get(name)
            where = f"{p.relative_to(top)}:{lineno}"
            if target is None:
                errors.append(f"{where}: includes \"{m.group(1)}\", which no layer owns")
            elif target not in allowed:
                why = REASONS.get((layer, target), f"{layer} may include only "
                                  + ", ".join(sorted(allowed)))
                errors.append(f"{where}: {layer} includes {name} of {target}: {why}")
    for e in errors:
        print(e)
    print(f"{len(sources)} files checked, {len(errors)} forbidden includes")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
