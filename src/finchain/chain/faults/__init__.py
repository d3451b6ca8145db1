"""End-to-end fault injection on real node processes over loopback.

* :mod:`~finchain.chain.faults.proxy` — a TCP proxy per directed link that cuts, delays, drops,
  corrupts and heals, steered in-process or through a JSON-lines control socket;
* :mod:`~finchain.chain.faults.scenario` — scenario files (a timeline of faults and a load);
* :mod:`~finchain.chain.faults.harness` — lays out a network behind the proxies, runs a scenario;
* :mod:`~finchain.chain.faults.checks` — agreement, durability and progress checks, recovery times.

The shipped scenarios live in ``scenarios/`` next to this file (see
:func:`~finchain.chain.faults.scenario.builtin`).
"""

from finchain.chain.faults.proxy import FaultError, LinkProxy, ProxyHub
from finchain.chain.faults.scenario import Event, Scenario, builtin

__all__ = ["Event", "FaultError", "LinkProxy", "ProxyHub", "Scenario", "builtin"]
