"""The local API's catalogue over raw HTTP: every model it previews in the live shape, models a test invents served,
validated, priced and rendered from their schema, unknown keys dropped, and both price endpoints."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from wavespeed import Client

from playground.contract import OUTPUT_SIZES, SPICY
from playground.local import LocalConfig, start_server
from playground.media import probe
from tests.support import KEY, call, download, submit, wait_until_done  # their default key is KEY

PREVIEWED = (
    SPICY,
    "bytedance/seedance-v1.5-pro/image-to-video",
    "bytedance/seedance-v1.5-pro/image-to-video-fast",
    "bytedance/seedance-v1-pro-fast/image-to-video",
    "bytedance/seedance-2.0/image-to-video",
    "bytedance/seedance-2.0-fast/image-to-video",
    "bytedance/seedance-2.0-fast/image-to-video-spicy",
    "bytedance/seedance-2.0/text-to-video",
    "bytedance/seedance-v1.5-pro/text-to-video-fast",
    "bytedance/seedance-v1.5-pro/video-extend",
)
KEYWORDS = {"type", "title", "description", "default", "enum", "minimum", "maximum", "step", "minItems", "maxItems",
            "items", "x-ui-component", "x-accept", "x-hidden"}
INVENTED = "acme/moonbeam-v1/image-to-video"


def invented_model(**changes) -> dict:
    """A model no catalogue has: an image, a prompt, an enum, a number with a range, a list of images, a switch."""
    properties = {
        "image": {"type": "string", "x-ui-component": "uploader", "description": "First frame"},
        "prompt": {"type": "string"},
        "style": {"type": "string", "enum": ["ink", "neon"], "default": "ink"},
        "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5, "x-ui-component": "slider"},
        "frames": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "duration": {"type": "integer", "minimum": 1, "maximum": 3, "default": 2},
        "resolution": {"type": "string", "enum": ["480p"], "default": "480p"},
        "loop": {"type": "boolean", "default": False},
        "seed": {"type": "integer", "minimum": -1, "maximum": 2147483647, "default": -1},
    }
    entry = {"model_id": INVENTED, "name": "Moonbeam", "description": "A model only the tests know",
             "type": "image-to-video", "base_price": 0.1, "sort_order": 5,
             "api_schema": {"api_schemas": [{"type": "model_run", "request_schema": {
                 "type": "object", "properties": properties, "required": ["image"],
                 "x-order-properties": list(properties)}}]}}
    entry.update(changes)
    return entry


def catalogue(server) -> dict[str, dict]:
    reply = requests.get(server.url + "/api/v3/models", timeout=30)  # no key needed
    assert reply.status_code == 200
    body = reply.json()
    assert (body["code"], body["message"]) == (200, "success") and isinstance(body["data"], list)
    return {entry["model_id"]: entry for entry in body["data"]}


def schema_of(entry: dict) -> dict:
    run = entry["api_schema"]["api_schemas"][0]
    assert (run["type"], run["method"], run["api_path"]) == ("model_run", "POST", f"/api/v3/{entry['model_id']}")
    return run["request_schema"]


def test_the_catalogue_lists_every_previewed_model_in_one_envelope_with_its_request_schema(shared_local_api):
    models = catalogue(shared_local_api)

    assert set(PREVIEWED) <= set(models)
    order = [entry["type"] for entry in models.values()]
    assert order == sorted(order, key=["image-to-video", "text-to-video", "video-extend"].index)  # i2v first
    for model_id, entry in models.items():
        assert {"model_id", "name", "description", "type", "base_price", "sort_order", "formula"} <= set(entry)
        assert "x-local" not in entry and entry["formula"].startswith('{"total_price": ')
        schema = schema_of(entry)
        assert schema["type"] == "object" and set(schema["required"]) <= set(schema["properties"])
        assert schema["x-order-properties"] == list(schema["properties"])
        for name, field in schema["properties"].items():
            assert set(field) <= KEYWORDS, (model_id, name, set(field) - KEYWORDS)
        assert schema["properties"]["enable_sync_mode"]["x-hidden"] is True

    spicy = schema_of(models[SPICY])["properties"]
    assert spicy["duration"] == {**spicy["duration"], "type": "integer", "minimum": 4, "maximum": 12, "default": 5,
                                 "x-ui-component": "slider"}
    assert spicy["image"]["x-ui-component"] == "uploader" and spicy["resolution"]["x-ui-component"] == "select"
    assert models[SPICY]["base_price"] == 0.048  # the floor: 480p, 4 s, no audio
    spicy_20 = schema_of(models["bytedance/seedance-2.0-fast/image-to-video-spicy"])
    assert (spicy_20["properties"]["duration"]["minimum"], spicy_20["properties"]["duration"]["maximum"]) == (4, 15)
    assert schema_of(models["bytedance/seedance-v1.5-pro/video-extend"])["required"] == ["video", "prompt"]
    assert "image" not in schema_of(models["bytedance/seedance-2.0/text-to-video"])["properties"]


@pytest.mark.full_render
def test_a_model_only_a_test_knows_is_served_validated_priced_and_rendered(local_api_factory, png_file, tmp_path):
    server = local_api_factory(timing="instant", extra_models=[invented_model()])
    entry = catalogue(server)[INVENTED]
    assert (entry["base_price"], entry["formula"]) == (0.1, '{"total_price": base_price * duration / 5}')
    url = Client(api_key=KEY, base_url=server.url).upload(str(png_file))

    for change, message in [({"image": None}, "image: is required"),
                            ({"style": "pastel"}, "style: 'pastel' is not allowed; choose one of ink, neon"),
                            ({"strength": 2}, "strength: 2 is out of range; allowed 0 to 1"),
                            ({"frames": [url, url, url]}, "frames: has 3 items"),
                            ({"loop": "yes"}, "loop: expected true or false")]:
        body = {k: v for k, v in {"image": url, **change}.items() if v is not None}
        reply = submit(server, body, model=INVENTED)
        assert reply.status_code == 400 and reply.json()["message"].startswith(message), reply.text
    assert server.balance(KEY) == 10.0 and not server.tasks()

    price = call(server, "POST", "/api/v3/model/price", json={"model_id": INVENTED, "inputs": {"duration": 3}})
    assert price.json()["data"]["price"] == pytest.approx(0.06)
    at_defaults = call(server, "POST", "/api/v3/model/pricing", json={"model_id": INVENTED, "inputs": {}})
    assert at_defaults.json()["data"] == {"model_id": INVENTED, "unit_price": pytest.approx(0.04), "currency": "USD"}

    task = submit(server, {"image": url, "style": "neon", "strength": 0.8, "seed": 5, "mystery": 1},
                  model=INVENTED).json()["data"]
    done = wait_until_done(server, task["id"])
    assert done["status"] == "completed", done
    info = probe(download(done["outputs"][0], tmp_path / "moonbeam.mp4"))
    assert (info.width, info.height, info.frames, info.has_audio) == (*OUTPUT_SIZES["480p"]["16:9"], 48, False)
    assert server.balance(KEY) == pytest.approx(10.0 - 0.04)  # its default duration, 2 s


def test_unknown_keys_are_dropped_silently_and_the_task_billed_with_defaults(protocol_api, png_file):
    url = Client(api_key=KEY, base_url=protocol_api.url).upload(str(png_file))
    # "reslution" is a typo the server cannot know: it is dropped, and the default 720p, 5 s with audio is billed.
    reply = submit(protocol_api, {"image": url, "reslution": "480p", "durations": 4, "seed": 3})

    assert reply.status_code == 200
    assert wait_until_done(protocol_api, reply.json()["data"]["id"])["status"] == "completed"
    assert protocol_api.balance(KEY) == pytest.approx(10.0 - 0.26)
    history = call(protocol_api, "POST", "/api/v3/predictions", json={}).json()["data"]["items"]
    assert history[0]["input"] == {"image": url, "seed": 3}


def test_both_price_endpoints_price_omitted_fields_at_their_defaults_and_show_a_discount(local_api_factory, png_file):
    server = local_api_factory(timing="instant", render="protocol", discounts={SPICY: 0.25})

    def price(endpoint: str, model: str, inputs: dict) -> requests.Response:
        return call(server, "POST", f"/api/v3/model/{endpoint}", json={"model_id": model, "inputs": inputs})

    assert price("price", SPICY, {}).json()["data"] == {
        "model_id": SPICY, "price": 0.26, "discounted_price": 0.195, "discount_rate": 0.25, "currency": "USD"}
    assert price("pricing", SPICY, {"resolution": "1080p", "duration": 10}).json()["data"] == {
        "model_id": SPICY, "unit_price": pytest.approx(0.78), "currency": "USD"}
    plain = price("price", "bytedance/seedance-2.0/text-to-video", {"resolution": "480p", "duration": 15}).json()
    assert plain["data"]["price"] == plain["data"]["discounted_price"] == pytest.approx(1.8)
    assert price("price", SPICY, {"typo": 1, "duration": 4, "resolution": "480p"}).json()["data"]["price"] == 0.096

    bad = price("price", SPICY, {"resolution": "4k"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("resolution: '4k' is not allowed")
    unknown = price("pricing", "acme/none", {})
    assert unknown.status_code == 400 and unknown.json()["message"].startswith("model: 'acme/none' is not known")
    # A submit is charged the discounted price.
    image = "data:image/png;base64," + base64.b64encode(png_file.read_bytes()).decode()
    assert wait_until_done(server, submit(server, {"image": image}).json()["data"]["id"])["status"] == "completed"
    assert server.balance(KEY) == pytest.approx(10.0 - 0.195)


def test_a_catalogue_file_named_in_the_environment_adds_models_and_a_broken_one_stops_the_start(tmp_path):
    path = tmp_path / "catalogue.json"
    odd = invented_model(model_id="acme/odd-one/image-to-video")
    odd_fields = odd["api_schema"]["api_schemas"][0]["request_schema"]["properties"]
    odd_fields["mask"] = {"type": "object"}
    odd_fields["duration"] = {"type": "string", "enum": ["5", "10"], "default": "10"}
    path.write_text(json.dumps({"code": 200, "message": "success", "data": [invented_model(), odd]}))
    config = LocalConfig.from_env({"PLAYGROUND_LOCAL_CATALOGUE": str(path)}, render="protocol")

    with start_server(config) as server:
        models = catalogue(server)
        assert {INVENTED, "acme/odd-one/image-to-video", SPICY} <= set(models)
        # A field of a kind the API does not check is served and passed through.
        reply = submit(server, {"image": "https://example.com/a.png", "mask": {"x": 1}},
                       model="acme/odd-one/image-to-video")
        assert reply.status_code == 200
        # A duration given as text still prices (and renders) by its seconds.
        quote = call(server, "POST", "/api/v3/model/price", json={"model_id": "acme/odd-one/image-to-video"})
        assert quote.json()["data"]["price"] == pytest.approx(0.2)

    path.write_text(json.dumps([{"model_id": "acme/broken", "api_schema": {}}]))
    with pytest.raises(ValueError, match="catalogue entry acme/broken: api_schema.api_schemas"):
        start_server(LocalConfig.from_env({"PLAYGROUND_LOCAL_CATALOGUE": str(path)}))
