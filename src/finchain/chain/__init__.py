"""The finchain consortium ledger node."""
