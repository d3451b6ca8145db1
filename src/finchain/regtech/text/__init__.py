"""Scam and hype text detection (Chinese and English) and pump-and-dump burst detection."""

from finchain.regtech.text.classifier import TextModel, load_corpus

__all__ = ["TextModel", "load_corpus"]
