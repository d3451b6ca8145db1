"""A federated job in one YAML file: parties, data, protocol, model, encryption, hyperparameters.

Example (``examples`` in ``docs/fl.md``)::

    name: sbt-default-credit
    protocol: hetero_secureboost
    parties:
      - {name: guest, role: guest, org: Bank A, data: default_credit_hetero_guest.csv}
      - {name: host, role: host, org: Telco B, data: default_credit_hetero_host.csv}
    split: {test_fraction: 0.2, seed: 42}
    psi: true
    encryption: {scheme: paillier, key_bits: 1024}
    model: {n_trees: 5, max_depth: 3, max_bins: 32, learning_rate: 0.3}
    timeout_s: 120

Data paths are relative to the job file, absolute, or the name of a file shipped in
``data/fate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finchain.fl.errors import JobConfigError

#: protocol → roles it needs (``host``/``client`` may repeat).
PROTOCOL_ROLES: dict[str, tuple[str, ...]] = {
    "hetero_secureboost": ("guest", "host"),
    "hetero_lr": ("guest", "host", "arbiter"),
    "hetero_linr": ("guest", "host", "arbiter"),
    "split_nn": ("guest", "host"),
    "horizontal": ("client", "server"),
    "transfer": ("guest", "host"),
}


class PartySpec(BaseModel):
    """One party of the job."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    role: str
    org: str = ""
    data: str | None = None
    test_data: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    member_public_key: str | None = (
        None  # PEM file of the finchain member key bound into the TLS cert
    )
    drop_at_round: int | None = None  # fault injection: exit before this round (horizontal)


class SplitSpec(BaseModel):
    """Train/test split (stratified on the guest's label)."""

    model_config = ConfigDict(extra="forbid")

    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class EncryptionSpec(BaseModel):
    """Which protection and its parameters."""

    model_config = ConfigDict(extra="forbid")

    scheme: str = "paillier"  # paillier | ckks | secagg | sharing | none
    key_bits: int = 1024
    dp_noise_multiplier: float = 0.0
    dp_clip: float = 1.0
    dp_delta: float = 1e-5
    secagg_threshold: int | None = None


class JobSpec(BaseModel):
    """The whole job."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    protocol: str
    parties: list[PartySpec]
    split: SplitSpec = Field(default_factory=lambda: SplitSpec.model_validate({}))
    psi: bool = True
    encryption: EncryptionSpec = Field(default_factory=lambda: EncryptionSpec.model_validate({}))
    model: dict[str, Any] = Field(default_factory=dict)
    incentives: dict[str, Any] | None = None
    timeout_s: float = 120.0
    base_dir: str = "."

    @model_validator(mode="after")
    def _check(self) -> JobSpec:
        if self.protocol not in PROTOCOL_ROLES:
            raise ValueError(
                f"unknown protocol {self.protocol!r} (one of {', '.join(PROTOCOL_ROLES)})"
            )
        names = [p.name for p in self.parties]
        if len(set(names)) != len(names):
            raise ValueError("party names must be unique")
        roles = {p.role for p in self.parties}
        for r in PROTOCOL_ROLES[self.protocol]:
            if r not in roles:
                raise ValueError(f"protocol {self.protocol} needs a party with role {r!r}")
        for p in self.parties:
            if p.role not in PROTOCOL_ROLES[self.protocol]:
                raise ValueError(f"role {p.role!r} of {p.name} is not used by {self.protocol}")
        return self

    def party(self, name: str) -> PartySpec:
        """The party called ``name``."""
        for p in self.parties:
            if p.name == name:
                return p
        raise JobConfigError(f"job {self.name} has no party {name!r}")

    def by_role(self, role: str) -> list[PartySpec]:
        """Parties with ``role``, in file order."""
        return [p for p in self.parties if p.role == role]


def load_job(path: str | Path) -> JobSpec:
    """Parse and validate a job file; problems become one clear :class:`JobConfigError`."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobConfigError(f"cannot read job file {p}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise JobConfigError(f"job file {p} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise JobConfigError(f"job file {p} must be a mapping")
    raw.setdefault("base_dir", str(p.resolve().parent))
    try:
        spec = JobSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise JobConfigError(
            f"job file {p}: {where + ': ' if where else ''}{first['msg']}"
        ) from exc
    check_model(spec, f"job file {p}")
    return spec


def model_defaults(protocol: str) -> dict[str, Any]:
    """The ``model`` settings ``protocol`` understands, with their default values."""
    if protocol in ("hetero_lr", "hetero_linr"):
        from finchain.fl.protocols import hetero_glm

        return dict(hetero_glm.DEFAULTS)
    if protocol == "hetero_secureboost":
        import dataclasses

        from finchain.fl.models.tree import TreeParams

        return {f.name: f.default for f in dataclasses.fields(TreeParams)}
    if protocol == "split_nn":
        from finchain.fl.protocols import split_nn

        return dict(split_nn.DEFAULTS)
    if protocol == "transfer":
        from finchain.fl.protocols import transfer

        return dict(transfer.DEFAULTS)
    from finchain.fl.protocols import horizontal

    return dict(horizontal.DEFAULTS)


#: settings that count something: a whole number, at least 1
_COUNTS = frozenset(
    {"epochs", "local_epochs", "rounds", "batch_size", "n_trees", "max_depth", "max_bins", "hidden"}
    | {"clusters"}
)


def check_model(spec: JobSpec, where: str = "job") -> None:
    """Refuse unknown ``model`` settings and values of the wrong kind before any party starts."""
    defaults = model_defaults(spec.protocol)
    unknown = sorted(set(spec.model) - set(defaults))
    if unknown:
        raise JobConfigError(
            f"{where}: unknown {spec.protocol} setting(s) {', '.join(unknown)}"
            f" (known: {', '.join(sorted(defaults))})"
        )
    for key, value in spec.model.items():
        default = defaults[key]
        what = f"{where}: model.{key}"
        if default is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            kind = "true or false"
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
            kind = "a whole number"
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            kind = "a number"
        else:
            ok = isinstance(value, type(default))
            kind = f"a {type(default).__name__}"
        if not ok:
            raise JobConfigError(f"{what} must be {kind}, not {value!r}")
        if key in _COUNTS and value < 1:
            raise JobConfigError(f"{what} must be at least 1, not {value!r}")
        if key == "learning_rate" and value <= 0:
            raise JobConfigError(f"{what} must be positive, not {value!r}")
