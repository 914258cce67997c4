#!/usr/bin/env python3
"""Summarises a bench/compare.sh run: per server and workload, the median of the repetitions by
requests/s (resources/s for ingest), with that run's p50/p99, errors and search probe.

Usage: bench/summarize.py OUT   (prints Markdown tables)
"""
import glob
import json
import os
import re
import sys
from collections import defaultdict


def load(out):
    runs = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(out, "*-*-*.json"))):
        m = re.match(r"(.+)-(\w+)-(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        with open(path) as f:
            try:
                runs[(m.group(1), m.group(2))].append(json.load(f))
            except json.JSONDecodeError:
                print(f"skipping unreadable {path}", file=sys.stderr)
    return runs


def rate(r, wl):
    t = r["total"]
    return t.get("resources_per_sec", 0.0) if wl == "ingest" else t["requests_per_sec"]


def median_run(rs, wl):
    rs = sorted(rs, key=lambda r: rate(r, wl))
    return rs[len(rs) // 2]


def errors(r):
    e = r["total"]["errors"]
    return " ".join(f"{k}×{v}" for k, v in sorted(e.items())) or "none"


def main():
    out = sys.argv[1]
    runs = load(out)
    servers = sorted({s for s, _ in runs if not s.startswith("pgnode")})
    order = ["get", "crud", "read", "search", "ingest"]
    print("| server | workload | runs | rate (median) | all runs | p50 ms | p99 ms | errors | probe |")
    print("|---|---|---|---|---|---|---|---|---|")
    med = {}
    for s in servers:
        for wl in order:
            rs = runs.get((s, wl))
            if not rs:
                continue
            m = median_run(rs, wl)
            med[(s, wl)] = m
            lat = m["total"]["latency"]
            probe = m.get("probe") or []
            probe_s = (
                "—"
                if not probe
                else ("ok" if all(p["ok"] for p in probe) else "SUSPECT: " + ",".join(p["op"] for p in probe if not p["ok"]))
            )
            unit = " res/s" if wl == "ingest" else ""
            allr = " / ".join(f"{rate(r, wl):,.0f}" for r in rs)
            print(
                f"| {s} | {wl} | {len(rs)} | {rate(m, wl):,.0f}{unit} | {allr} | {lat['p50_ms']:.2f} | "
                f"{lat['p99_ms']:.2f} | {errors(m)} | {probe_s} |"
            )
    print()
    print("Per operation (median run):")
    print()
    print("| server | workload | op | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for (s, wl), m in sorted(med.items()):
        if wl in ("crud", "search"):
            for op in m["ops"]:
                lat = op["latency"]
                e = " ".join(f"{k}×{v}" for k, v in sorted(op["errors"].items())) or "none"
                print(f"| {s} | {wl} | {op['op']} | {op['requests_per_sec']:,.0f} | {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} | {e} |")
    pairs = [(wl, runs.get(("pgnodeA", wl)), runs.get(("pgnodeB", wl))) for wl in order]
    pairs = [(wl, a, b) for wl, a, b in pairs if a and b]
    if pairs:
        print()
        print("Two nodes on one PostgreSQL database, driven at once (rates summed per repetition):")
        print()
        print("| workload | A+B rate (median) | all runs | A p50/p99 ms | B p50/p99 ms | errors A / B |")
        print("|---|---|---|---|---|---|")
        for wl, ra, rb in pairs:
            sums = sorted(((rate(x, wl) + rate(y, wl)), x, y) for x, y in zip(ra, rb))
            total, x, y = sums[len(sums) // 2]
            lx, ly = x["total"]["latency"], y["total"]["latency"]
            print(
                f"| {wl} | {total:,.0f} | {' / '.join(f'{t:,.0f}' for t, _, _ in sums)} | "
                f"{lx['p50_ms']:.2f}/{lx['p99_ms']:.2f} | {ly['p50_ms']:.2f}/{ly['p99_ms']:.2f} | "
                f"{errors(x)} / {errors(y)} |"
            )
    print()
    print("Ratios (median rates):")
    for wl in order:
        for a, b in (("ward", "helios"), ("ward", "unaudited"), ("postgres", "ward"), ("ward", "ceiling")):
            x, y = med.get((a, wl)), med.get((b, "get" if b == "ceiling" else wl))
            if x and y and rate(y, wl) > 0:
                print(f"- {wl}: {a}/{b} = {rate(x, wl) / rate(y, 'get' if b == 'ceiling' else wl):.2f}")
    for a, b in (("ward", "helios"),):
        x, y = med.get((a, "crud")), med.get((b, "crud"))
        if x and y:
            cx = next((o for o in x["ops"] if o["op"] == "create"), None)
            cy = next((o for o in y["ops"] if o["op"] == "create"), None)
            if cx and cy and cy["requests_per_sec"] > 0:
                print(f"- crud creates: {a}/{b} = {cx['requests_per_sec'] / cy['requests_per_sec']:.2f}")


if __name__ == "__main__":
    main()
