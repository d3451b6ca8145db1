"""The illicit-account model over Ethereum account features (Farrugia et al. 2020)."""

from finchain.regtech.accounts.model import AccountModel, cross_validate, load_accounts

__all__ = ["AccountModel", "cross_validate", "load_accounts"]
