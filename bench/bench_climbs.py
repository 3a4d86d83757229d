"""How often one Run click's call path climbs back up a layer. Every call between two playground modules is traced,
in every thread, while the page's own Run handler runs one job on the free local preview (after one run to warm it
up), and placed by STYLE.md's layers (as tests/test_structure.py lists them; the embedded local API, a separate
program, is left out):

- a climb is a call from a module to one in a higher layer (a lower layer calling back up: a hook, a lazy import);
- a descent is a call from a module to one in a lower layer; a step of the path is a distinct (caller, callee)
  pair of functions among them, and the path climbs back up once between two descents from the same function.

Prints each distinct climb, then the counts.

    PYTHONPATH=. python bench/bench_climbs.py
"""

from __future__ import annotations

import collections
import sys
import tempfile
import threading
from pathlib import Path

from playground.caps import Caps
from playground.contract import SPICY
from playground.jobs import Ledger
from playground.ui import LOCAL_LABEL, MATCH_IMAGE, SAMPLES_DIR, build_app, handlers
from tests.test_structure import LAYER_OF


def layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "playground" or len(parts) < 2 or parts[1] == "local":
        return None
    return LAYER_OF.get(parts[1])


def values_of(page, seed: int) -> dict:
    form, keys = page.form, page.keys
    return {form.image: str(SAMPLES_DIR / "sunset_beach.jpg"), form.image_url: "", form.last_image: None,
            form.prompt: "slow zoom in", form.resolution: "480p", form.duration: 4, form.audio: False,
            form.aspect: MATCH_IMAGE, form.camera_fixed: False, form.seed: seed, form.batch: 1, form.model: SPICY,
            keys.backend: LOCAL_LABEL, keys.key: "", keys.key_state: "", keys.owner: ""}


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        demo = build_app(ledger=Ledger(Path(home) / "ledger.db"), caps=Caps(), owner_key="")
        pg, page = demo.playground, demo.page
        handlers.run(pg, page, values_of(page, 1), None, lambda *a, **k: None)  # warm up: the local API starts
        climbs: collections.Counter[tuple[str, str]] = collections.Counter()
        descents: collections.Counter[tuple[str, str]] = collections.Counter()

        def profile(frame, event, arg):
            if event != "call" or frame.f_back is None:
                return
            callee, caller = frame.f_globals.get("__name__", ""), frame.f_back.f_globals.get("__name__", "")
            up, down = layer(callee), layer(caller)
            if up is None or down is None or up == down:
                return
            step = (f"{caller}.{frame.f_back.f_code.co_name}", f"{callee}.{frame.f_code.co_name}")
            (climbs if up < down else descents)[step] += 1

        threading.setprofile(profile)
        sys.setprofile(profile)
        try:
            handlers.run(pg, page, values_of(page, 2), None, lambda *a, **k: None)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    for (caller, callee), times in sorted(climbs.items()):
        print(f"{times:5d}  {caller} -> {callee}")
    callers = collections.Counter(caller for caller, _ in descents)
    print(f"climbs (calls up a layer): {len(climbs)} distinct, {sum(climbs.values())} in all")
    print(f"descents (calls down a layer): {len(descents)} distinct steps from {len(callers)} functions; climbs "
          f"back up between them: {sum(n - 1 for n in callers.values())}")


if __name__ == "__main__":
    main()
