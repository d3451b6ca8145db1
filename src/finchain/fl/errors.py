"""Errors of the federated-learning subsystem.

::

    FlError                      (finchain.fl)
     ├── JobConfigError          a job file that cannot be run (one clear line for the user)
     ├── CertificateError        a party's TLS certificate is missing, foreign or expired
     ├── PartyDropped            a peer did not answer in time, or went away
     ├── ProtocolError           a peer sent something the protocol does not allow
     └── CryptoParamError        bad parameters for Paillier / CKKS / secret sharing
"""

from __future__ import annotations

from finchain.errors import FinchainError


class FlError(FinchainError):
    """Base of all federated-learning errors."""


class JobConfigError(FlError):
    """The job description is malformed or refers to missing data."""


class CertificateError(FlError):
    """A certificate could not be issued, loaded or verified."""


class PartyDropped(FlError):
    """A peer party did not send an expected message in time, or cannot be reached.

    Carries the ``party`` that went silent and the message ``tag`` that was awaited.
    """

    def __init__(self, message: str, *, party: str = "", tag: str = "") -> None:
        super().__init__(message)
        self.party = party
        self.tag = tag


class ProtocolError(FlError):
    """A message violated the protocol (wrong type, wrong size, unknown tag)."""


class CryptoParamError(FlError):
    """Invalid parameters for an encryption scheme (key too short, value out of range)."""
