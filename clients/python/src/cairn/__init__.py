"""Record model decisions in a Cairn ledger, and check what Cairn says.

>>> from cairn import Recorder, Decision, Model                 # doctest: +SKIP
>>> with Recorder("http://127.0.0.1:7070") as rec:
...     fut = rec.record(Decision("payments.fraud", Model("fraud", "7.2.0"),
...                               {"amount": 120.5}, {"label": "allow"}))
...     receipt = fut.result()        # durable in the ledger once this returns

- :class:`Recorder` queues decisions without blocking the caller and sends them
  in NDJSON batches from a background thread; :class:`AsyncRecorder` is the
  asyncio flavour; ``@recorder.decision(stream=..., model=...)`` records every
  call of a function.
- :func:`verify_receipt` checks a receipt's inclusion proof against a signed
  checkpoint, and :func:`verify_bundle` an evidence bundle, offline.
"""

from ._http import ConfigError
from .aio import AsyncRecorder
from .bundle import BundleReport, CannotCheck, verify_bundle
from .recorder import Recorder
from .types import (
    CairnError,
    Closed,
    Decision,
    GaveUp,
    InvalidDecision,
    Model,
    ProtocolError,
    QueueFull,
    Receipt,
    Rejected,
    Stats,
)
from .verify import Checkpoint, VerificationError, VerifierKey, open_checkpoint, verify_receipt

__all__ = [
    "AsyncRecorder",
    "BundleReport",
    "CairnError",
    "CannotCheck",
    "Checkpoint",
    "Closed",
    "ConfigError",
    "Decision",
    "GaveUp",
    "InvalidDecision",
    "Model",
    "ProtocolError",
    "QueueFull",
    "Receipt",
    "Recorder",
    "Rejected",
    "Stats",
    "VerificationError",
    "VerifierKey",
    "open_checkpoint",
    "verify_bundle",
    "verify_receipt",
]
