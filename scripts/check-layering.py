#!/usr/bin/env python3
"""Fails when a component includes a component it does not depend on.

The components, their folders, public headers, shared internal headers and dependencies are
declared once, in src/CMakeLists.txt; configuring writes them to
<build>/monitoring-components.json, which this script reads:

    scripts/check-layering.py build/release/monitoring-components.json [--root .]

Rules, for every #include "..." in src/ and include/monitoring/:
  * a file may include its own component and the components it depends on, transitively;
  * a private header (src/<component>/...) of another component only when that component
    lists it as SHARED_INTERNAL;
  * a component may not include the system headers it FORBIDs (metrics: no Boost, ...);
  * every file belongs to exactly one component, and the dependency graph has no cycle.
"""

import argparse
import json
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.MULTILINE)


def load(manifest_path):
    with open(manifest_path, encoding="utf-8") as f:
        components = json.load(f)
    return {c["name"]: c for c in components}


def closure(components, name, seen=None, stack=None):
    """The components `name` may include (itself and its transitive dependencies)."""
    seen = set() if seen is None else seen
    stack = [] if stack is None else stack
    if name in stack:
        raise ValueError("dependency cycle: " + " -> ".join(stack + [name]))
    if name in seen:
        return seen
    seen.add(name)
    for dep in components[name]["depends"]:
        if dep not in components:
            raise ValueError(f"{name} depends on unknown component '{dep}'")
        closure(components, dep, seen, stack + [name])
    return seen


def owner_of(path, components):
    """The component owning a repository-relative path, or None."""
    best, best_len = None, -1
    for c in components.values():
        for d in c["dirs"]:
            if path.startswith(d.rstrip("/") + "/") and path.count("/") == d.rstrip("/").count("/") + 1:
                if len(d) > best_len:
                    best, best_len = c["name"], len(d)
        for h in c["headers"]:
            if path == h or path.startswith(h.rstrip("/") + "/"):
                if len(h) > best_len:
                    best, best_len = c["name"], len(h)
    return best


def resolve(root, including_file, spelled):
    """The repository-relative file an #include "..." names, or None (not ours)."""
    candidates = [
        os.path.join(os.path.dirname(including_file), spelled),
        os.path.join("include", spelled),
        os.path.join("src", spelled),
    ]
    for candidate in candidates:
        candidate = os.path.normpath(candidate)
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    return None


def check(root, components):
    problems = []
    allowed = {}
    for name in components:
        try:
            allowed[name] = closure(components, name)
        except ValueError as error:
            return [str(error)]

    files = []
    for top in ("src", os.path.join("include", "monitoring")):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in names:
                if n.endswith((".hpp", ".cpp", ".h")):
                    files.append(os.path.relpath(os.path.join(dirpath, n), root))
    for path in sorted(files):
        if os.path.basename(path) == "CMakeLists.txt":
            continue
        owner = owner_of(path, components)
        if owner is None:
            problems.append(f"{path}: belongs to no component (add its folder in src/CMakeLists.txt)")
            continue
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for match in INCLUDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            kind, spelled = match.group(1), match.group(2)
            if kind == "<":
                for prefix in components[owner].get("forbid", []):
                    if spelled.startswith(prefix):
                        problems.append(f"{path}:{line}: component '{owner}' may not include <{spelled}>")
                continue
            target = resolve(root, path, spelled)
            if target is None:
                continue
            target_owner = owner_of(target, components)
            if target_owner is None or target_owner == owner:
                continue
            if target_owner not in allowed[owner]:
                problems.append(
                    f"{path}:{line}: '{owner}' includes \"{spelled}\" of '{target_owner}', "
                    f"which it does not depend on (it depends on: "
                    f"{', '.join(sorted(allowed[owner] - {owner})) or 'nothing'})")
            elif target.startswith("src" + os.sep) and target not in components[target_owner]["shared_internal"]:
                problems.append(
                    f"{path}:{line}: '{owner}' includes \"{spelled}\", a private header of "
                    f"'{target_owner}' (not in its SHARED_INTERNAL list)")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    args = parser.parse_args()
    components = load(args.manifest)
    problems = check(os.path.abspath(args.root), components)
    for p in problems:
        print("layering: " + p, file=sys.stderr)
    if problems:
        print(f"layering: {len(problems)} violation(s)", file=sys.stderr)
        return 1
    print(f"layering: {len(components)} components, every include goes down the graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
