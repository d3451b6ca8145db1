"""Regtech: chain supervision and anti-fraud.

Subpackages:

* :mod:`finchain.regtech.chainwatch` — the transfer-event model, real-time typology detectors,
  the AMLSim-driven labelled generator, fund tracing and label exposure;
* :mod:`finchain.regtech.accounts` — the illicit-account model (Ethereum account features);
* :mod:`finchain.regtech.text` — scam and hype text classifiers (Chinese and English) and the
  pump-and-dump burst detector;
* :mod:`finchain.regtech.stablecoin` — the stablecoin supervision standard's on-chain checker;
* :mod:`finchain.regtech.alerts` — the persistent, de-duplicated alert store and its HTTP API.

Only :mod:`finchain.regtech.chainwatch` may import :mod:`finchain.chain`.
"""

from finchain.regtech.errors import RegtechError

__all__ = ["RegtechError"]
