"""Webhooks: the address a run asks the API to call, and the receiver that meets the deliveries."""

from __future__ import annotations

from ..client import Client
from ..errors import ValidationError
from ..jobs import Job, account_tag
from ..receiver import WebhookReceiver
from .payers import Payer


class Deliveries:
    """The part of :class:`~playground.session.Playground` that asks for and receives webhook deliveries."""

    def webhook_for(self, payer: Payer) -> str | None:
        """The webhook a run by ``payer`` asks for: the app's public receiver for the WaveSpeed API; none for the
        local preview, which runs beside the page, polls in milliseconds and calls only loopback URLs (waiting for a
        delivery that cannot come would cost every preview the webhook's patience)."""
        return self.webhook_url if payer.kind == "api" else None

    def receiver(self) -> WebhookReceiver:
        """The webhook receiver for this playground's ledger (serve it at ``/webhooks/wavespeed``: playground.web)."""
        return WebhookReceiver(self.ledger, client_for=self._download_client, webhooks=self.webhooks,
                               secret_for=self._known_secret)

    def _download_client(self, job: Job) -> Client:
        """A client that can fetch ``job`` 's output: its own backend's, keyless for a visitor's key (downloads send
        no key)."""
        try:
            return self.client(self.payer_for_job(job, None))
        except ValidationError:
            return Client(api_key="", base_url=job.base_url)

    def _known_secret(self, account: str) -> str | None:
        """The webhook secret of a key this server holds (the host's, or the local preview's), fetched with that key
        when a delivery for its jobs needs it (after a restart, say). A visitor's key is never kept, so deliveries for
        their jobs verify only while this process remembers the secret; resume collects the rest."""
        if self._owner_key and account == account_tag(self._owner_key):
            payer = Payer("api", self._owner_key, self.caps.any, "the host's key")
        elif account == "":
            payer = Payer("local", "", False, "the local preview")
        else:
            return None
        client = self.client(payer)
        try:
            return self.webhooks.secrets.learn(account, client)
        finally:
            client.close()
