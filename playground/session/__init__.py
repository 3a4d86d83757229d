"""The server side of the playground page, without Gradio: who pays (the visitor's key, or the host's key within
:mod:`playground.caps`), runs and their cancelling, and what each visitor may see and touch in the ledger.

>>> pg = Playground(caps=Caps(), owner_key="")        # doctest: +SKIP
>>> outcome = pg.run_form(RunForm(image="cat.png", prompt="slow zoom in"), payer=pg.payer(LOCAL_LABEL, ""),
...                       session="s1")                  # doctest: +SKIP

One concept per file: :mod:`.form` (what a visitor asks for), :mod:`.payers` (who pays), :mod:`.prices`,
:mod:`.runs` (runs, cancel, status lines), :mod:`.history` (the ledger as a visitor may see it), :mod:`.deliveries`
(webhooks), and :mod:`.playground`, the one object made of them. The page (:mod:`playground.ui`) talks to this
package only; it never reaches the client, the ledger or the pipeline.
"""

from ..identity import STORAGE_KEY as IDENTITY_KEY
from ..jobs import Job
from ..pipeline import Result
from ..progress import job_fraction
from .form import MATCH_IMAGE, MAX_BATCH, SAMPLES_DIR, RunForm, upload_path
from .payers import API_LABEL, LOCAL_LABEL, ClientFactory, Payer
from .playground import Playground, default_outputs_dir, visitor_of
from .runs import RunOutcome, StatusHook, progress_line

__all__ = ["API_LABEL", "IDENTITY_KEY", "LOCAL_LABEL", "MATCH_IMAGE", "MAX_BATCH", "SAMPLES_DIR", "ClientFactory",
           "Job", "Payer", "Playground", "Result", "RunForm", "RunOutcome", "StatusHook", "default_outputs_dir",
           "job_fraction", "progress_line", "upload_path", "visitor_of"]
