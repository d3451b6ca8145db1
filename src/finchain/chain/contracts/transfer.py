"""A token-transfer contract: balances minted at genesis, transfers with a balance check.

State (namespace ``transfer``): ``b"b:" + address`` → balance (signed big-endian integer,
minor units); ``b"supply"`` → total supply. Amounts are integers; nothing is ever minted after
genesis, so the sum of balances always equals the supply.

Example (through an executor; see ``tests/chain/core``)::

    tx = Transaction.create(suite, key, contract="transfer", method="transfer",
                            args={"to": bob, "amount": 250}, block_limit=h + 100)
"""

from __future__ import annotations

from finchain.chain.execution.contract import Contract, ContractError, method, view

BALANCE_PREFIX = b"b:"
SUPPLY_KEY = b"supply"


def balance_key(address: bytes) -> bytes:
    """State key (inside the ``transfer`` namespace) of ``address``'s balance."""
    return BALANCE_PREFIX + address


def encode_amount(value: int) -> bytes:
    """The encoding of ``ExecutionContext.put_int``."""
    return value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)


class TransferContract(Contract):
    """Move balances between 20-byte addresses."""

    name = "transfer"

    @method
    def transfer(self, to: bytes, amount: int, memo: bytes = b"") -> int:
        """Move ``amount`` from the sender to ``to``; returns the sender's new balance.

        ``memo`` is an opaque note carried in the signed transaction (a payment reference; the
        benchmark uses it to vary the payload size); it is not stored in state.
        """
        if type(memo) is not bytes:
            raise ContractError("memo must be bytes")
        if type(amount) is not int or amount <= 0:
            raise ContractError("amount must be a positive integer (minor units)")
        if type(to) is not bytes or len(to) != 20:
            raise ContractError("recipient must be a 20-byte address")
        ctx = self.ctx
        sender = ctx.sender
        src = BALANCE_PREFIX + sender
        balance = ctx.get_int(src)
        if balance < amount:
            raise ContractError(f"insufficient balance: {balance} < {amount}")
        left = balance - amount
        ctx.put_int(src, left)
        dst = BALANCE_PREFIX + to
        ctx.put_int(dst, ctx.get_int(dst) + amount)
        ctx.emit("Transfer", {"amount": amount, "from": sender, "to": to})
        return left

    @view
    def balance(self, account: bytes) -> int:
        """Balance of ``account`` (0 when it never held any)."""
        return self.ctx.get_int(BALANCE_PREFIX + bytes(account))

    @view
    def total_supply(self) -> int:
        """Everything minted at genesis."""
        return self.ctx.get_int(SUPPLY_KEY)
