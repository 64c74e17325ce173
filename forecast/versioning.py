"""Content address of an assumptions set: the same numbers give the same version id."""

from __future__ import annotations

import hashlib
import json

from forecast.schemas import Assumptions

VERSION_HEX_CHARS = 12  # length of the short id shown to users


def normalized_assumptions(a: Assumptions) -> dict:
    """Assumptions as plain, order-independent data (what the version hash covers)."""
    return {
        "sources": {k: v.model_dump() for k, v in sorted(a.sources.items())},
        "parameters": {k: v.model_dump() for k, v in sorted(a.parameters.items())},
        "structure": a.structure.model_dump(),
        "model": a.model.model_dump(),
        "scenarios": {k: v.model_dump() for k, v in sorted(a.scenarios.items())},
        **{name: t.sort_values(list(t.columns)).to_dict(orient="records") for name, t in a.histories().items()},
        "projects": sorted((p.model_dump() for p in a.projects), key=lambda d: d["id"]),
    }


def assumptions_hash(a: Assumptions) -> str:
    """SHA-256 of the normalized assumptions (hex)."""
    blob = json.dumps(normalized_assumptions(a), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def version_id(a: Assumptions) -> str:
    """Short version id shown in every API response."""
    return assumptions_hash(a)[:VERSION_HEX_CHARS]
