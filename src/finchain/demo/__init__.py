"""The main job: ``make demo`` (``finchain demo run``)."""
