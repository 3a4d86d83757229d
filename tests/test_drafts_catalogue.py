"""The Sweep over a catalogue's models: which it can run, each priced as the API quotes it, and a run of a known and a
catalogue model side by side (the local API over real HTTP)."""

from __future__ import annotations

import pytest
from browser_support import SAMPLES, client_factory_for

from playground.caps import Caps
from playground.contract import SPICY
from playground.drafts import held_by_ledger, model_ids, plan_sweep, run_sweep, sweep_models
from playground.errors import ValidationError
from playground.local.catalogue_data import V15_EXTEND, V20_FAST_SPICY, V20_T2V
from playground.session import LOCAL_LABEL, Playground, RunForm


def test_a_sweep_runs_a_catalogue_model_beside_a_known_one_at_the_apis_prices(local_api, ledger):
    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    payer = pg.payer(LOCAL_LABEL, "")
    client = pg.client(payer)
    try:
        client.catalogue().video_models()  # the page reads it on load: its models become known
    finally:
        client.close()
    listed = [spec.model_id for spec in sweep_models()]
    assert SPICY in listed and V20_FAST_SPICY in listed
    assert V15_EXTEND not in listed and V20_T2V not in listed  # no clip to extend, no picture to start from
    with pytest.raises(ValidationError, match=f"^models: '{V15_EXTEND}' is not one a sweep can run"):
        model_ids([V15_EXTEND])
    form = RunForm(image=str(SAMPLES / "koi_pond.jpg"), prompt="the koi swim", resolution="480p", duration=4,
                   generate_audio=False, model=SPICY)
    plan = held_by_ledger(pg, plan_sweep(form, "2", [SPICY, V20_FAST_SPICY]), payer, form)
    costs = {job.model: job.cost for job in plan.jobs}
    # The spicy table ($0.012/s silent at 480p) and the local API's quote for 2.0 Fast Spicy ($0.08/s at 480p).
    assert costs == {SPICY: pytest.approx(0.048), V20_FAST_SPICY: pytest.approx(0.32)}
    assert plan.total == pytest.approx(2 * (0.048 + 0.32))
    swept = run_sweep(pg, form, "1", [SPICY, V20_FAST_SPICY], payer=payer, session="tab", owner="b:me")
    assert sorted(row["model"] for row in swept.clips) == sorted([SPICY, V20_FAST_SPICY])
    assert local_api.submits == 2
