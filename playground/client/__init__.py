"""HTTP to a WaveSpeed-compatible API (the v3 contract), one room per concept:

* :mod:`.transport`: the session, the key, the one retry policy and typed errors;
* :mod:`.tasks`: submit (once, never retried), get, wait, and the :class:`Client` joining the rooms;
* :mod:`.polling`: the poll schedule and the one poll clock every wait follows;
* :mod:`.transfers`: uploads and checked downloads;
* :mod:`.reconcile`: the history, and the task a lost submit reply created (claimed only when proven ours);
* :mod:`.account`: balance, live price, webhook secret, delete;
* :mod:`.billing`: what the API really charged and refunded, by prediction id;
* :mod:`.catalogue`: the API's models, read from ``GET /api/v3/models`` and cached an hour;
* :mod:`.prediction`: a task as the API describes it.

Written from ``shared/contract/wavespeed-v3.md``, not from what the local API accepts.
"""

from .billing import Charge
from .catalogue import Catalogue
from .polling import PollClock, PollSchedule
from .prediction import TERMINAL_STATUSES, Prediction, task_failed
from .reconcile import Reconciled
from .tasks import Client, UpdateHook
from .transfers import check_video
from .transport import DEFAULT_BASE_URL, RETRYABLE_STATUS, RetryPolicy

__all__ = ["Client", "Catalogue", "Charge", "Prediction", "PollSchedule", "PollClock", "Reconciled", "RetryPolicy",
           "TERMINAL_STATUSES", "check_video", "task_failed", "DEFAULT_BASE_URL", "RETRYABLE_STATUS", "UpdateHook"]
