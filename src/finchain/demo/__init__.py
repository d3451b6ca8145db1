"""The main job: ``make demo`` (``finchain demo run``) brings the platform up on real data."""
