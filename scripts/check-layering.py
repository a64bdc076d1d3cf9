#!/usr/bin/env python3
"""Checks that the folders of lib/server include each other without a circle.

A folder's files may include another folder's headers; the graph of those edges must be
acyclic (docs/life-of-a-command.md, "lib/server, file by file"). The files at the top of
lib/server (the composition: server.cc, dispatcher.cc, command_families.*) may include
every folder and no folder may include them. Prints the graph; exits 1 on a circle.
"""
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "server")
include = re.compile(r'#include "server/([a-z_]+)[/.]')
edges = {}
for folder, _, files in os.walk(root):
    for name in files:
        if not name.endswith((".h", ".cc")):
            continue
        src = os.path.relpath(folder, root)
        src = "(top)" if src == "." else src
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for target in include.findall(f.read()):
                dst = target if os.path.isdir(os.path.join(root, target)) else "(top)"
                if dst != src:
                    edges.setdefault(src, set()).add(dst)
                    if dst == "(top)":
                        print(f"{os.path.join(src, name)} includes a composition file at the top")

# Depth-first search for a back edge.
state, stack, circle = {}, [], []
def visit(node):
    state[node] = 1
    stack.append(node)
    for nxt in sorted(edges.get(node, ())):
        if state.get(nxt) == 1:
            circle.append(stack[stack.index(nxt):] + [nxt])
        elif nxt not in state:
            visit(nxt)
    stack.pop()
    state[node] = 2
for node in sorted(edges):
    if node not in state:
        visit(node)

for node in sorted(edges):
    print(f"{node} -> {', '.join(sorted(edges[node]))}")
if circle or any("(top)" in targets for src, targets in edges.items() if src != "(top)"):
    for c in circle:
        print("circle: " + " -> ".join(c))
    sys.exit(1)
print("lib/server layering: no circle")
