"""Consensus algorithms as sans-I/O state machines (see :mod:`finchain.chain.consensus.base`)."""
