"""Deterministic contract execution (see :mod:`finchain.chain.execution.contract`)."""
