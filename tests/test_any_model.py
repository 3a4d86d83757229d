"""Any model of the catalogue works through the library, one never seen included: its request follows its schema
(media fields found from it, a field it lacks refused before anything is paid), and its price is the API's own,
marked as a list price when discounted, a legacy unit price, or a floor when the API does not say."""

from __future__ import annotations

import pytest

from playground import generate
from playground.client import RetryPolicy
from playground.contract import SPICY
from playground.errors import ValidationError
from playground.pricing import Quote
from tests.support import KEY, local_client
from tests.test_local_catalogue import INVENTED, invented_model

T2V = "bytedance/seedance-2.0/text-to-video"
EXTEND = "bytedance/seedance-v1.5-pro/video-extend"


@pytest.fixture
def moonbeam_api(local_api_factory):
    return local_api_factory(timing="instant", render="protocol", extra_models=[invented_model()],
                             discounts={INVENTED: 0.25})


def test_a_model_only_the_api_knows_runs_with_its_own_fields_and_its_discounted_price(moonbeam_api, png_file,
                                                                                          ledger):
    client = local_client(moonbeam_api)
    result = generate(png_file, prompt="moon rise", model=INVENTED, client=client, ledger=ledger, style="neon",
                      strength=0.75, frames=[png_file], seed=4)

    assert result.video_path.stat().st_size > 0
    sent = result.params
    assert (sent["style"], sent["strength"], sent["duration"], sent["seed"]) == ("neon", 0.75, 2, 4)
    assert sent["image"].startswith(moonbeam_api.url) and len(sent["frames"]) == 1
    assert result.cost == pytest.approx(0.03)  # base 0.1 x 2 s / 5, a quarter off
    assert ledger.get(result.job_id).cost == pytest.approx(0.03)
    assert moonbeam_api.balance(KEY) == pytest.approx(10.0 - 0.03)


def test_a_field_the_model_lacks_or_a_missing_medium_is_refused_before_anything_is_sent(moonbeam_api, png_file,
                                                                                        ledger):
    client = local_client(moonbeam_api)
    with pytest.raises(ValidationError, match="colour: is not a field of acme/moonbeam-v1/image-to-video"):
        generate(png_file, model=INVENTED, client=client, ledger=ledger, colour="red")
    with pytest.raises(ValidationError, match="strength: 3 is out of range; allowed 0 to 1"):
        generate(png_file, model=INVENTED, client=client, ledger=ledger, strength=3)
    with pytest.raises(ValidationError) as caught:
        generate(prompt="go on", model=EXTEND, client=client, ledger=ledger)
    assert caught.value.problems == ["video: is required"]
    with pytest.raises(ValidationError, match="image: is not a field of bytedance/seedance-2.0/text-to-video"):
        generate(png_file, prompt="a fox", model=T2V, client=client, ledger=ledger)
    with pytest.raises(ValidationError, match="model: 'acme/none' is not known"):
        generate(png_file, model="acme/none", client=client, ledger=ledger)
    assert not moonbeam_api.tasks() and ledger.jobs() == []


def test_text_to_video_and_an_extension_of_a_clip_run_from_the_schema(protocol_api, png_file, ledger):
    client = local_client(protocol_api)
    clip = generate(png_file, client=client, ledger=ledger, resolution="480p", duration=4, seed=3)
    t2v = generate(prompt="a fox in snow", model=T2V, client=client, ledger=ledger, resolution="480p", duration=4)
    longer = generate(video=clip.video_path, prompt="the fox runs on", model=EXTEND, client=client, ledger=ledger,
                      resolution="480p", duration=4, seed=clip.seed)

    assert "image" not in t2v.params and t2v.params["prompt"] == "a fox in snow"
    assert longer.params["video"].startswith(protocol_api.url) and longer.params["seed"] == 3
    tasks = {t["id"]: t for t in protocol_api.tasks()}
    assert tasks[longer.request_id]["model"] == EXTEND and tasks[t2v.request_id]["model"] == T2V


def test_prices_come_from_the_api_then_its_legacy_endpoint_then_the_catalogue_floor(moonbeam_api):
    client = local_client(moonbeam_api, retry=RetryPolicy(attempts=1))
    inputs = {"duration": 3, "style": "ink"}
    exact = client.price(INVENTED, inputs)
    assert (exact.kind, exact.usd, exact.list_usd) == ("exact", pytest.approx(0.045), pytest.approx(0.06))
    assert exact.label() == "$0.045 (list $0.06)"

    moonbeam_api.faults.add("price:500x1")  # the current endpoint fails: the legacy one answers
    legacy = client.price(INVENTED, {**inputs, "duration": 1})
    assert legacy.kind == "exact" and legacy.usd == pytest.approx(0.015) and "legacy" in legacy.source

    moonbeam_api.faults.add("price:500x2")  # neither answers: the catalogue's base price, as a floor
    floor = client.price(INVENTED, {**inputs, "loop": True})
    assert (floor.kind, floor.label()) == ("floor", "from $0.10")
    moonbeam_api.faults.add("price:500x2")
    table = client.price(SPICY, {"resolution": "720p", "duration": 5, "seed": 1})
    assert table.kind == "estimate" and table.label() == "~$0.26 (estimate)"
    assert client.price(INVENTED, inputs) is exact  # kept a minute: a live label does not hammer the API
    assert Quote(0.1, True).times(3).short() == "$0.30"


def test_the_code_tab_uploads_each_media_field_of_the_models_schema(moonbeam_api):
    from playground.snippets import curl_snippet, python_snippet

    local_client(moonbeam_api).catalogue()
    params = {"video": "/home/me/clip.mp4", "prompt": "on", "duration": 4}
    script = python_snippet(params, model=EXTEND)
    assert "with open('clip.mp4', 'rb')" in script and "'video': video_url," in script
    listed = curl_snippet({"image": "https://x/a.png", "frames": ["/tmp/a.png", "https://x/b.png"]}, model=INVENTED)
    assert "FRAMES_0_URL=$(curl" in listed and '"$FRAMES_0_URL"' in listed and '"https://x/b.png"' in listed
