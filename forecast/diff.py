"""What changed between two assumption sets: values old and new, with their sources."""

from __future__ import annotations

from typing import Any

from forecast.schemas import SERIES, Assumptions
from forecast.versioning import normalized_assumptions


def _series_index(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, dict]:
    return {tuple(r[k] for k in keys): r for r in rows}


def diff_assumptions(old: Assumptions | None, new: Assumptions) -> list[dict[str, Any]]:
    """Changes from ``old`` to ``new``: kind, key, field, old, new, source (of the new value)."""
    if old is None:
        return [{"kind": "initial", "key": None, "field": None, "old": None, "new": None, "source": None}]
    a, b = normalized_assumptions(old), normalized_assumptions(new)
    out: list[dict[str, Any]] = []
    for kind in ("parameters", "sources", "scenarios"):
        for key in sorted(set(a[kind]) | set(b[kind])):
            va, vb = a[kind].get(key), b[kind].get(key)
            if va == vb:
                continue
            src = (vb or va or {}).get("source") if kind == "parameters" else None
            if va is None or vb is None:
                out.append({"kind": kind, "key": key, "field": None, "old": va, "new": vb, "source": src})
                continue
            for field in sorted(set(va) | set(vb)):
                if va.get(field) != vb.get(field):
                    out.append(
                        {
                            "kind": kind,
                            "key": key,
                            "field": field,
                            "old": va.get(field),
                            "new": vb.get(field),
                            "source": src,
                        }
                    )
    for kind, keys in ((spec.name, ("year", *spec.keys)) for spec in SERIES):
        ia, ib = _series_index(a[kind], keys), _series_index(b[kind], keys)
        for key in sorted(set(ia) | set(ib), key=str):
            ra, rb = ia.get(key), ib.get(key)
            if ra == rb:
                continue
            out.append(
                {
                    "kind": kind,
                    "key": "/".join(str(k) for k in key),
                    "field": "value",
                    "old": ra and ra["value"],
                    "new": rb and rb["value"],
                    "source": (rb if rb is not None else ra or {})["source"],
                }
            )
    pa = {p["id"]: p for p in a["projects"]}
    pb = {p["id"]: p for p in b["projects"]}
    for pid in sorted(set(pa) | set(pb)):
        ra, rb = pa.get(pid), pb.get(pid)
        if ra == rb:
            continue
        if ra is None or rb is None:
            out.append(
                {
                    "kind": "projects",
                    "key": pid,
                    "field": None,
                    "old": ra,
                    "new": rb,
                    "source": (rb if rb is not None else ra or {})["source_url"],
                }
            )
            continue
        for field in sorted(set(ra) | set(rb)):
            if ra.get(field) != rb.get(field):
                out.append(
                    {
                        "kind": "projects",
                        "key": pid,
                        "field": field,
                        "old": ra.get(field),
                        "new": rb.get(field),
                        "source": rb["source_url"],
                    }
                )
    for part in ("structure", "model"):
        if a[part] != b[part]:
            out.append({"kind": part, "key": None, "field": None, "old": a[part], "new": b[part], "source": None})
    return out
