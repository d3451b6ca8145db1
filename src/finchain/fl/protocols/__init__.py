"""Federated protocols: each a set of role functions ``(channel, …) → result``."""
