"""Coalition values for the incentive mechanism, computed with the protocols' own arithmetic.

For a horizontal job ``v(S)`` is the test AUC of FedAvg run by the clients in ``S`` (the exact
fixed-point aggregation of the networked path, :func:`finchain.fl.protocols.horizontal.simulate`);
``v(∅) = 0.5``. For a vertical SecureBoost job the players are the hosts: ``v(S)`` is the test AUC
of SecureBoost on the guest's features plus those of the hosts in ``S`` (computed centrally,
which is exactly what the lossless federated protocol would produce); ``v(∅)`` is the guest alone.
This evaluation reads every party's data, so it is run by a trusted evaluator or on data the
parties agree to pool for auditing — the federated job itself never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finchain.fl.data import auc, feature_columns, read_table, stratified_split
from finchain.fl.errors import JobConfigError
from finchain.fl.job import JobSpec


def coalition_game(job: JobSpec) -> tuple[list[str], Callable[[frozenset[str]], float]]:
    """The players and the value function of ``job``."""
    from pathlib import Path

    base = Path(job.base_dir)
    if job.protocol == "horizontal":
        from finchain.fl.models.local import LocalModel
        from finchain.fl.protocols import horizontal as hz

        cfg = hz.settings(job.model)
        server = job.by_role("server")[0]
        if not server.test_data:
            raise JobConfigError("the server needs test_data to value coalitions")
        test = read_table(server.test_data, base)
        Xt, yt = test[feature_columns(test)].to_numpy(), test["y"].to_numpy(float)
        data = {}
        for p in job.by_role("client"):
            df = read_table(p.data or "", base)
            data[p.name] = (df[feature_columns(df)].to_numpy(), df["y"].to_numpy(float))
        players = [p.name for p in job.by_role("client")]
        m = LocalModel(
            cfg["type"], n_features=Xt.shape[1], hidden=cfg["hidden"], clusters=cfg["clusters"]
        )

        def v_h(s: frozenset[str]) -> float:
            if not s:
                return 0.5
            params = hz.simulate([data[p] for p in players if p in s], cfg["type"], cfg)
            return auc(yt, m.predict(params, Xt))

        return players, v_h
    if job.protocol == "hetero_secureboost":
        from finchain.fl.protocols.secureboost import train_central
        from finchain.fl.protocols.vertical import tree_params

        g = read_table(job.by_role("guest")[0].data or "", base)
        hosts = {p.name: read_table(p.data or "", base) for p in job.by_role("host")}
        common = set(g["id"])
        for h in hosts.values():
            common &= set(h["id"])
        ids = sorted(common)
        gg = g.set_index("id").loc[ids]
        y = gg["y"].to_numpy(float)
        sp = stratified_split(y, test_fraction=job.split.test_fraction, seed=job.split.seed)
        blocks = {"guest": gg[feature_columns(gg)].to_numpy()}
        for name, h in hosts.items():
            hh = h.set_index("id").loc[ids]
            blocks[name] = hh[feature_columns(hh)].to_numpy()
        params = tree_params(job.model)

        def v_v(s: frozenset[str]) -> float:
            names = ["guest", *[n for n in hosts if n in s]]
            _, scores = train_central(
                y[sp.train],
                [blocks[n][sp.train] for n in names],
                [blocks[n][sp.test] for n in names],
                params,
            )
            assert scores is not None
            return auc(y[sp.test], scores)

        return list(hosts), v_v
    raise JobConfigError(
        "contribution evaluation supports horizontal and hetero_secureboost jobs, "
        f"not {job.protocol}"
    )


def contributions(
    job: JobSpec, *, method: str, permutations: int, pool: int, seed: int = 0
) -> dict[str, Any]:
    """Shapley values (exact or sampled, with standard errors) and the reward split."""
    from finchain.fl.incentives import exact_shapley, permutation_shapley, reward_split

    players, value = coalition_game(job)
    out: dict[str, Any] = {"players": players, "method": method}
    if method == "exact":
        phi = exact_shapley(players, value)
        out["shapley"] = phi
        out["stderr"] = {p: 0.0 for p in players}
    elif method == "permutation":
        est = permutation_shapley(players, value, permutations=permutations, seed=seed)
        phi = {p: e.value for p, e in est.items()}
        out["shapley"] = phi
        out["stderr"] = {p: e.stderr for p, e in est.items()}
    else:
        raise JobConfigError("method must be exact or permutation")
    out["grand_value"] = value(frozenset(players))
    out["empty_value"] = value(frozenset())
    out["reward"] = reward_split(phi, pool)
    out["pool"] = pool
    return out
