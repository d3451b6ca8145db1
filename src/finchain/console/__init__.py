"""The web console: served by the platform itself (``finchain demo run`` starts it)."""
