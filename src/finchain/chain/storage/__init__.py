"""Durable ledger storage: one LMDB environment per node directory.

>>> import tempfile
>>> from finchain.crypto import get_suite
>>> with tempfile.TemporaryDirectory() as d, BlockStore(d, suite=get_suite("intl")) as store:
...     store.last_height
-1
"""

from finchain.chain.storage.errors import StorageError
from finchain.chain.storage.lmdb_store import BlockStore, CommitRecord, state_key

__all__ = ["BlockStore", "CommitRecord", "StorageError", "state_key"]
