"""What the API really charged: ``POST /api/v3/billings/search`` by prediction id, each task's deductions and
refunds (refunds are rows of their own; the real API refunds failed tasks within hours)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .transport import Transport

PAGE_SIZE = 100  # the most the endpoint returns per page (V)
MAX_PAGES = 20
# A read nobody asked for (History shown, the caps counting) waits this long at most, once, then keeps the estimate.
QUICK_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class Charge:
    """One task's billing: USD deducted and refunded so far, and how many rows said so."""

    prediction_id: str
    deducted: float = 0.0
    refunded: float = 0.0
    rows: int = 0

    @property
    def net(self) -> float:
        return round(self.deducted - self.refunded, 6)


def _usd(value: Any) -> float:
    """A billing row's price in USD: a float, or (in older examples) an integer of micro-dollars."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return value / 1_000_000 if isinstance(value, int) and value >= 1000 else float(value)


class Billing(Transport):
    """The billing room of :class:`playground.client.Client`."""

    def charges(self, prediction_ids: Iterable[str], *, quick: bool = False) -> dict[str, Charge]:
        """Each of ``prediction_ids``' deductions and refunds (ids with no billing row are left out). ``quick``: one
        try per page with a short timeout (:data:`QUICK_TIMEOUT_S`), for a read that must not hold a page up."""
        ids = sorted({i for i in prediction_ids if isinstance(i, str) and i})
        found: dict[str, Charge] = {}
        for start in range(0, len(ids), PAGE_SIZE):
            for row in self._billing_rows(ids[start:start + PAGE_SIZE], quick):
                pid = (row.get("prediction") or {}).get("uuid") if isinstance(row, dict) else None
                if pid not in ids:
                    continue
                now = found.get(pid, Charge(pid))
                usd = _usd(row.get("price"))
                if row.get("billing_type") == "refund":
                    now = Charge(pid, now.deducted, round(now.refunded + usd, 6), now.rows + 1)
                else:
                    now = Charge(pid, round(now.deducted + usd, 6), now.refunded, now.rows + 1)
                found[pid] = now
        return found

    def _billing_rows(self, ids: list[str], quick: bool = False) -> list[Any]:
        rows: list[Any] = []
        bounds = {"timeout": QUICK_TIMEOUT_S, "connect_timeout": QUICK_TIMEOUT_S, "attempts": 1} if quick else {}
        for page in range(1, MAX_PAGES + 1):
            data = self._call("POST", "/api/v3/billings/search", kind="billing",
                              json={"page": page, "page_size": PAGE_SIZE, "prediction_uuids": ids}, **bounds)
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                break
            rows += items
            total = data.get("total")
            more = data.get("has_more")
            if not items or more is False or (more is None and (not isinstance(total, int) or len(rows) >= total)):
                break
        return rows


__all__ = ["Billing", "Charge"]
