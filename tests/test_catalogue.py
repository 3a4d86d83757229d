"""The client's catalogue: GET /api/v3/models read into models of kinds the form knows, cached an hour per base URL
(never with a key), a model with an unknown field listed but disabled, and the known models when nothing answers."""

from __future__ import annotations

import json

import pytest

from playground.client import Client, RetryPolicy
from playground.client.catalogue import cache_file
from playground.contract import SPICY, VideoRequest, get_model, validate
from playground.errors import ValidationError
from tests.support import KEY, free_port, local_client
from tests.test_local_catalogue import INVENTED, invented_model

EXTEND = "bytedance/seedance-v1.5-pro/video-extend"
T2V = "bytedance/seedance-2.0/text-to-video"


def test_the_catalogue_lists_video_models_by_family_with_each_field_of_a_known_kind(local_api_factory, tmp_path):
    server = local_api_factory(timing="instant", render="protocol", extra_models=[invented_model()])
    client = local_client(server)
    catalogue = client.catalogue()

    assert catalogue.source == "api"
    families = [m.type for m in catalogue.video_models()]
    assert families == sorted(families, key=["image-to-video", "text-to-video", "video-extend"].index)
    assert {SPICY, T2V, EXTEND, INVENTED} <= set(catalogue.models)
    moonbeam = catalogue.get(INVENTED)
    kinds = {p.name: p.kind for p in moonbeam.params}
    assert kinds == {"image": "image", "prompt": "text", "style": "enum", "strength": "number", "frames": "images",
                     "duration": "integer", "resolution": "enum", "loop": "boolean", "seed": "seed"}
    strength = moonbeam.param("strength")
    assert (strength.minimum, strength.maximum, strength.default) == (0, 1, 0.5)
    assert moonbeam.param("frames").max_items == 2 and moonbeam.base_price == 0.1 and not moonbeam.disabled
    assert [p.name for p in get_model(EXTEND).media_fields] == ["video"]
    assert "enable_sync_mode" not in get_model(SPICY).names  # hidden transport fields are not form fields
    assert get_model(SPICY).confirmed and get_model(SPICY).sizes["480p"]["16:9"] == (864, 496)  # known facts kept


def test_a_model_with_a_field_of_an_unknown_kind_is_listed_but_disabled_naming_the_field(local_api_factory):
    odd = invented_model(model_id="acme/odd-v1/image-to-video")
    odd["api_schema"]["api_schemas"][0]["request_schema"]["properties"]["mask"] = {"type": "object"}
    client = local_client(local_api_factory(timing="instant", render="protocol", extra_models=[odd]))

    spec = client.catalogue().get("acme/odd-v1/image-to-video")
    assert spec.disabled == "mask: a field of a kind this playground does not know (object)"
    assert validate(spec.model_id, {"image": "https://x/a.png"}) == [
        "model: acme/odd-v1/image-to-video cannot be used here; mask: a field of a kind this playground does not know "
        "(object)"]
    with pytest.raises(ValidationError, match="model: acme/odd-v1/image-to-video cannot be used here; mask"):
        VideoRequest.build(spec.model_id)


def test_the_catalogue_is_cached_an_hour_per_base_url_on_disk_without_the_key(local_api_factory, tmp_path):
    server = local_api_factory(timing="instant", render="protocol")
    first = local_client(server)
    first.catalogue_cache = tmp_path
    first.catalogue(refresh=True)
    second = local_client(server)
    second.catalogue_cache = tmp_path

    path = cache_file(server.url, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["base_url"] == server.url and {m["model_id"] for m in saved["models"]} >= {SPICY, EXTEND}
    assert KEY not in path.read_text()
    assert first.requests_sent == {"models": 1}
    assert second.catalogue().source in ("cache", "api") and second.requests_sent.get("models", 0) == 0

    saved["fetched_at"] -= 3601  # an hour later: read again
    path.write_text(json.dumps(saved))
    assert second.catalogue(refresh=True).source == "api" and second.requests_sent == {"models": 1}


def test_an_api_that_does_not_answer_gives_an_older_copy_or_the_known_models(tmp_path):
    base = f"http://127.0.0.1:{free_port()}"
    client = Client(api_key=KEY, base_url=base, retry=RetryPolicy(attempts=1))
    client.catalogue_cache = tmp_path
    catalogue = client.catalogue(refresh=True)
    assert catalogue.source == "offline" and SPICY in catalogue.models and catalogue.error

    cache_file(base, tmp_path).write_text(json.dumps({"fetched_at": 1.0, "base_url": base,
                                                      "models": [invented_model(model_id="acme/old-v1/i2v")]}))
    stale = client.catalogue(refresh=True)
    assert stale.source == "stale cache" and list(stale.models) == ["acme/old-v1/i2v"]
