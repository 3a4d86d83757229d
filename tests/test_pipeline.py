"""generate() end to end over HTTP against the local API: the video, reproducibility, reuse, progress."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from playground.client import Client
from playground.contract import SPICY
from playground.errors import Cancelled, ValidationError
from playground.local import LocalConfig, start_server
from playground.media import probe, read_frames
from playground.pipeline import generate, resume
from playground.pricing import estimate_cost
from tests.support import KEY, GenerateEnv, fast_poll, make_image


@pytest.fixture
def server(local_api_factory):
    return local_api_factory()


@pytest.fixture
def env(server, tmp_path, ledger):
    client = Client(api_key=KEY, base_url=server.url, poll=fast_poll())
    image = make_image(tmp_path / "in.png", (800, 450))
    return GenerateEnv(client, ledger, image, tmp_path)


@pytest.mark.full_render
def test_generate_makes_the_contracts_video_and_rerunning_the_seed_reproduces_it(server, env):
    client, ledger, image, tmp = env
    events = []
    first = generate(image, "slow zoom in", client=client, ledger=ledger, resolution="480p", duration=4,
                     generate_audio=True, out_dir=tmp / "out", on_progress=events.append)
    info = probe(first.video_path)
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (864, 496, 24, 96, True)
    assert first.seed >= 0 and first.params["seed"] == first.seed
    assert first.cost == estimate_cost(SPICY, {"resolution": "480p", "duration": 4}) == 0.096
    assert server.balance(KEY) == pytest.approx(10.0 - 0.096)
    phases = [e.phase for e in events]
    assert phases[0] == "validating" and phases[-1] == "done"
    assert {"uploading", "submitting", "downloading"} <= set(phases)

    again = generate(image, "slow zoom in", client=client, ledger=ledger, resolution="480p", duration=4,
                     generate_audio=True, seed=first.seed, out_dir=tmp / "out", reuse=False)
    assert again.request_id != first.request_id
    a, b = read_frames(first.video_path, [0, 48, 95]), read_frames(again.video_path, [0, 48, 95])
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert server.submits == 2


def test_a_second_identical_call_with_a_seed_makes_no_new_post(server, env):
    client, ledger, image, tmp = env
    params = dict(resolution="480p", duration=4, generate_audio=False, seed=1234, out_dir=tmp / "out")
    first = generate(image, client=client, ledger=ledger, **params)
    second = generate(image, client=client, ledger=ledger, **params)
    assert second.reused and second.video_path == first.video_path and second.request_id == first.request_id
    assert server.submits == 1
    assert len(ledger.jobs()) == 1


def test_random_seed_calls_are_never_reused(server, env):
    client, ledger, image, tmp = env
    generate(image, client=client, ledger=ledger, resolution="480p", duration=4, out_dir=tmp / "o")
    generate(image, client=client, ledger=ledger, resolution="480p", duration=4, out_dir=tmp / "o")
    assert server.submits == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration": 3}, "duration"),
        ({"duration": 13}, "duration"),
        ({"resolution": "4k"}, "resolution"),
        ({"seed": -2}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"camera_fixed": "yes"}, "camera_fixed"),
        ({"aspect_ratio": "5:1"}, "aspect_ratio"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_refused_before_any_request(server, env, kwargs, field):
    client, ledger, image, tmp = env
    with pytest.raises(ValidationError) as err:
        generate(image, client=client, ledger=ledger, **kwargs)
    assert str(err.value).startswith(f"{field}:")
    assert server.submits == 0 and server.count("POST", "/api/v3/media") == 0
    assert ledger.jobs() == []


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "empty"), (b"just text", "not an image"), ("truncated", "damaged or truncated"),
     ((1, 1), "300 to 6000"), ((9000, 3000), "300 to 6000"), ((2500, 500), "width/height")],
)
def test_bad_image_files_are_refused_before_any_request(server, env, content, words):
    client, ledger, _, tmp = env
    if isinstance(content, tuple):
        path = tmp / "bad.png"
        Image.new("RGB", content, (90, 120, 30)).save(path)
    elif content == "truncated":
        path = tmp / "bad.png"
        path.write_bytes(make_image(tmp / "ok.png").read_bytes()[:300])
    else:
        path = tmp / "bad.png"
        path.write_bytes(content)
    with pytest.raises(ValidationError) as err:
        generate(path, client=client, ledger=ledger, resolution="480p")
    assert str(err.value).startswith("image:") and words in str(err.value)
    assert server.submits == 0 and server.count("POST", "/api/v3/media") == 0


def test_last_image_is_uploaded_and_the_clip_ends_on_it(server, env):
    client, ledger, image, tmp = env
    last = make_image(tmp / "last.png", (800, 450), seed=5)
    result = generate(image, last_image=last, client=client, ledger=ledger, resolution="480p", duration=4,
                      generate_audio=False, aspect_ratio="16:9", out_dir=tmp / "o")
    assert result.params["last_image"].startswith("http")
    assert server.count("POST", "/api/v3/media/uploads") == 2


def test_uploads_are_reused_by_content_hash(server, env):
    client, ledger, image, tmp = env
    for _ in range(2):
        generate(image, client=client, ledger=ledger, resolution="480p", duration=4, out_dir=tmp / "o")
    assert server.count("POST", "/api/v3/media/uploads") == 1


def test_cancel_stops_the_wait_at_once_and_resume_collects_the_video(tmp_path, ledger):
    import threading
    import time

    with start_server(LocalConfig(timing="realistic", speed=0.15)) as srv:
        client = Client(api_key=KEY, base_url=srv.url, poll=fast_poll())
        image = make_image(tmp_path / "in.png")
        cancel = threading.Event()
        seen = []

        def on_progress(ev):
            seen.append(ev)
            if ev.phase in ("queued", "processing"):
                cancel.set()

        t0 = time.monotonic()
        with pytest.raises(Cancelled, match="Resume"):
            generate(image, client=client, ledger=ledger, resolution="480p", duration=4, cancel=cancel,
                     on_progress=on_progress, out_dir=tmp_path / "o")
        assert time.monotonic() - t0 < 2.5
        job = ledger.jobs()[0]
        assert job.request_id and job.unfinished
        outcomes = resume(client, ledger, out_dir=tmp_path / "o")
        assert [o.status for o in outcomes] == ["completed"]
        assert probe(outcomes[0].video_path).frames == 96
        assert srv.submits == 1


_BAD_VALUES = {
    "duration": st.one_of(st.integers(max_value=3), st.integers(min_value=13), st.text(max_size=3),
                          st.floats(4.1, 11.9).filter(lambda f: not f.is_integer())),
    "resolution": st.text(max_size=6).filter(lambda s: s not in ("480p", "720p", "1080p")),
    "aspect_ratio": st.text(max_size=5).filter(lambda s: s not in ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")),
    "seed": st.one_of(st.integers(max_value=-2), st.integers(min_value=2**31)),
    "camera_fixed": st.one_of(st.integers(), st.text(max_size=3)),
    "generate_audio": st.one_of(st.integers(), st.text(max_size=3)),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_bad_parameter_is_named_and_nothing_is_sent(server, env, data):
    client, ledger, image, tmp = env
    field = data.draw(st.sampled_from(sorted(_BAD_VALUES)))
    value = data.draw(_BAD_VALUES[field])
    with pytest.raises(ValidationError) as err:
        generate(image, client=client, ledger=ledger, **{field: value})
    assert str(err.value).startswith(f"{field}:")
    assert server.submits == 0 and server.count("POST", "/api/v3/media") == 0


def test_the_steps_reserve_before_sending_record_the_task_and_carry_the_request_to_the_result(server, env):
    from playground.contract import VideoRequest
    from playground.pipeline import Planned, collect, plan, read_media, submit, wait

    client, ledger, image, tmp = env
    request = VideoRequest.build(prompt="pan", resolution="480p", duration=4, generate_audio=False, seed=5)
    media = read_media(image, client=client)
    planned = plan(request, media, client=client, ledger=ledger, out_dir=tmp / "out")
    assert isinstance(planned, Planned) and server.submits == 0
    row = ledger.get(planned.job_id)
    assert row.status == "pending" and row.cost == 0.048 and row.seed == 5 and row.params["prompt"] == "pan"

    pred = submit(planned, client=client, ledger=ledger)
    assert server.submits == 1 and ledger.get(planned.job_id).request_id == pred.id
    pred = wait(planned, pred, client=client, ledger=ledger)
    result = collect(planned, pred, client=client, ledger=ledger)
    assert result.request is request and result.seed == 5 and result.video_path.exists()
    assert ledger.get(planned.job_id).video_path == str(result.video_path)

    again = plan(request, media, client=client, ledger=ledger, out_dir=tmp / "out")
    assert again.reused and again.job_id == planned.job_id and server.submits == 1
