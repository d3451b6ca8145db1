"""Alerts: a persistent, de-duplicated store and the HTTP API the console reads."""

from finchain.regtech.alerts.store import AlertStore

__all__ = ["AlertStore"]
