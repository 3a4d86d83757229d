"""Choosing the backend: the API when a key is at hand, else the embedded local API."""

import os

import pytest

from playground import backend
from playground.client import DEFAULT_BASE_URL
from playground.errors import AuthError


def test_no_key_anywhere_gives_the_local_preview_which_answers(monkeypatch):
    monkeypatch.delenv("WAVESPEED_API_KEY", raising=False)
    client = backend.connect()
    assert client.backend_id == backend.LOCAL
    assert client.base_url.startswith("http://127.0.0.1:")
    assert client.balance() > 0
    assert backend.connect().base_url == client.base_url  # one local API per process


def test_a_key_gives_the_real_api_and_never_touches_the_environment(monkeypatch):
    monkeypatch.delenv("WAVESPEED_API_KEY", raising=False)
    before = dict(os.environ)
    client = backend.connect("sk-user-key-1234567890")
    assert client.base_url == DEFAULT_BASE_URL and client.backend_id == DEFAULT_BASE_URL and client.has_key
    assert dict(os.environ) == before
    monkeypatch.setenv("WAVESPEED_API_KEY", "sk-env-key-1234567890")
    assert backend.connect().base_url == DEFAULT_BASE_URL
    assert backend.connect(backend="local").backend_id == backend.LOCAL


def test_asking_for_the_api_without_a_key_or_an_unknown_backend_says_what_to_do(monkeypatch):
    monkeypatch.delenv("WAVESPEED_API_KEY", raising=False)
    with pytest.raises(AuthError, match="WAVESPEED_API_KEY"):
        backend.connect(backend="api")
    with pytest.raises(ValueError, match="backend: 'cloud' is not known"):
        backend.connect(backend="cloud")
