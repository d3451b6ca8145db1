"""The ``finchain`` command line."""
