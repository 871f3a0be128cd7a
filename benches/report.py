"""Turn .benchmarks/comparison.json (written by a `pytest benches/ --benchmark-only` run)
into the figures of docs/benchmarks.md: a markdown table per group on stdout, and the
throughput-against-envelope-size plot.

    python -m benches.report [--json .benchmarks/comparison.json] \
        [--plot docs/img/pump-throughput.png]

Needs matplotlib for the plot (`pip install matplotlib`); the table needs nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

RELAY_LABELS = {
    "baseline": "cat | cat (plain relay)",
    "pump": "dstream pump, validating",
    "pump-passthrough": "dstream pump, passthrough",
    "python-lines": "Python line relay",
}
RELAY_STYLES = {
    "baseline": ("black", "--"),
    "pump": ("tab:blue", "-"),
    "pump-passthrough": ("tab:green", "-"),
    "python-lines": ("tab:red", ":"),
}


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def figure(entry: dict[str, Any]) -> tuple[str, str, str]:
    """min / median / max as the entry displays them."""
    pattern = r"\s*([\d,.]+) (\S+) \(min ([\d,.]+), max ([\d,.]+)\),?(.*)"
    match = re.match(pattern, entry["display"])
    if not match:
        return entry["display"], "", ""
    median, unit, low, high, rest = match.groups()
    rest = f" ({rest.strip()})" if rest.strip() else ""
    return f"{low} {unit}", f"**{median} {unit}**{rest}", f"{high} {unit}"


def tables(data: dict[str, Any]) -> str:
    out: list[str] = []
    for group, body in data["groups"].items():
        if group.startswith("sweep "):
            continue
        entries = body["entries"]
        base = entries.get("baseline")
        out.append(f"#### {group}\n")
        out.append("| what | min | median | max | vs baseline |")
        out.append("|---|---:|---:|---:|---:|")
        for name, entry in entries.items():
            label = entry.get("label", name) if name == "baseline" else name
            ratio = ""
            if name == "baseline":
                ratio = "baseline"
            elif base and entry.get("compare", True) and base.get("rate"):
                ratio = f"{100 * entry['rate'] / base['rate']:.0f} %"
            low, median, high = figure(entry)
            out.append(f"| {cell(label)} | {low} | {median} | {high} | {ratio} |")
        out.append("")
    return "\n".join(out)


def sweep(data: dict[str, Any]) -> dict[str, list[tuple[int, float, float, float]]]:
    """relay -> [(size, min, median, max) in MB/s]"""
    series: dict[str, list[tuple[int, float, float, float]]] = {}
    for group, body in data["groups"].items():
        match = re.fullmatch(r"sweep (\d+) B", group)
        if not match:
            continue
        size = int(match.group(1))
        for relay, entry in body["entries"].items():
            series.setdefault(relay, []).append(
                (size, entry["min"] / 1e6, entry["rate"] / 1e6, entry["max"] / 1e6)
            )
    return {relay: sorted(points) for relay, points in series.items()}


def sweep_table(series: dict[str, list[tuple[int, float, float, float]]]) -> str:
    sizes = sorted({p[0] for points in series.values() for p in points})
    head = "| relay | " + " | ".join(_size(s) for s in sizes) + " |"
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for relay in RELAY_LABELS:
        points = {p[0]: p for p in series.get(relay, [])}
        cells = [f"{points[s][2]:,.0f}" if s in points else "" for s in sizes]
        lines.append(f"| {cell(RELAY_LABELS[relay])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(MB/s, median of rounds)\n"


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def plot(series: dict[str, list[tuple[int, float, float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    for relay, label in RELAY_LABELS.items():
        points = series.get(relay)
        if not points:
            continue
        color, style = RELAY_STYLES[relay]
        sizes = [p[0] for p in points]
        ax.plot(sizes, [p[2] for p in points], style, color=color, marker="o", label=label)
        ax.fill_between(
            sizes, [p[1] for p in points], [p[3] for p in points], color=color, alpha=0.12
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks([p[0] for p in series["baseline"]])
    ax.set_xticklabels([_size(p[0]) for p in series["baseline"]])
    ax.set_xlabel("envelope size")
    ax.set_ylabel("throughput, MB/s (median; band: min-max)")
    ax.set_title("Pump throughput against envelope size (64 MB per point, same run)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=".benchmarks/comparison.json", type=Path)
    parser.add_argument("--plot", default="docs/img/pump-throughput.png", type=Path)
    args = parser.parse_args()
    data = json.loads(args.json.read_text())
    print(tables(data))
    series = sweep(data)
    if series:
        print(sweep_table(series))
        plot(series, args.plot)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
