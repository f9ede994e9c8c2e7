"""Results as a readable text table and as JSON.

A results dict maps a metric name to either a number (printed in the
"generated" column) or a dict with any of "generated", "real", "baseline"
(numbers or None). The ratio column is generated / real when both exist.
Nested sections are written as {"section name": {metric: ...}}: a dict
whose values are themselves dicts of metric rows.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

_ROW_KEYS = ("generated", "real", "baseline")


def _is_row(value: Any) -> bool:
    return isinstance(value, (int, float)) or value is None or (
        isinstance(value, dict) and set(value) <= set(_ROW_KEYS) | {"note"})


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.3e}"
        return f"{x:.4f}"
    return str(x)


def _rows(results: dict, prefix: str = "") -> list[tuple[str, dict]]:
    rows = []
    for name, value in results.items():
        label = f"{prefix}{name}"
        if _is_row(value):
            rows.append((label, value if isinstance(value, dict) else {"generated": value}))
        elif isinstance(value, dict):
            rows.append((f"[{label}]", {}))
            rows.extend(_rows(value, prefix="  "))
        else:
            rows.append((label, {"note": value}))
    return rows


def format_table(results: dict, title: str | None = None) -> str:
    """Fixed-width table: metric | generated | real | ratio [| baseline]."""
    rows = _rows(results)
    has_baseline = any("baseline" in r for _, r in rows)
    header = ["metric", "generated", "real", "ratio"] + (["baseline"] if has_baseline else [])
    body = []
    for label, r in rows:
        gen, real = r.get("generated"), r.get("real")
        ratio = None
        if isinstance(gen, (int, float)) and isinstance(real, (int, float)) and real != 0:
            ratio = gen / real
        line = [label, _fmt(gen), _fmt(real), _fmt(ratio)]
        if has_baseline:
            line.append(_fmt(r.get("baseline")))
        if "note" in r and not isinstance(r.get("note"), (int, float)):
            line = [label, str(r["note"])] + [""] * (len(header) - 2)
        if not r:
            line = [label] + [""] * (len(header) - 1)
        body.append(line)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    out = []
    if title:
        out.append(title)
    out.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    out.append("  ".join("-" * w for w in widths))
    for b in body:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(out)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(results: dict, path: str | Path) -> Path:
    """Write results (numpy scalars and arrays converted, NaN/inf as null)
    atomically as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(results), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
