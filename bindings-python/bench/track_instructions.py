"""A loop of 20,000 `track()` calls for an instruction count under callgrind (stable on
noisy machines, unlike wall time). Modes: `props` (a 6-property event), `noprops`, `none`
(start-up only, to subtract).

    valgrind --tool=callgrind --callgrind-out-file=cg.out \
        .venv/bin/python bindings-python/bench/track_instructions.py props
    callgrind_annotate --inclusive=yes cg.out | grep -E "__pymethod_track__|with_properties"

Divide the inclusive counts by 20,000.
"""

from __future__ import annotations

import os
import sys
import tempfile

import sonde

N = 20_000


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "props"
    client = sonde.Sonde(store=os.path.join(tempfile.mkdtemp(prefix="sonde-bench-"), "b.db"))
    props = {
        "plan": "pro",
        "revenue": 42.5,
        "currency": "EUR",
        "items": 3,
        "coupon": None,
        "first_order": True,
    }
    if mode == "props":
        for _ in range(N):
            client.track("Order Completed", props, user_id="user-7")
    elif mode == "noprops":
        for _ in range(N):
            client.track("Order Completed", user_id="user-7")
    client.shutdown()


if __name__ == "__main__":
    main()
