from __future__ import annotations

import itertools

from finchain.scf.scms import load_deliveries, participants, tier2_share_bps


def test_scms_parses_real_deliveries_in_time_order() -> None:
    deliveries = load_deliveries(limit=500)
    assert len(deliveries) == 500
    assert all(a.delivered <= b.delivered for a, b in itertools.pairwise(deliveries))
    assert all(d.value_cents > 0 and d.vendor != "SCMS from RDC" for d in deliveries)
    parties = participants(deliveries)
    names = [p.name for p in parties]
    assert len(names) == len(set(names))
    vendors = {d.vendor for d in deliveries}
    assert {p.name for p in parties if p.tier == 1} == vendors
    assert all(5_500 <= tier2_share_bps(d) <= 7_500 for d in deliveries)
