"""Supply-chain finance on the chain.

Participants, trade documents, digital credit vouchers (数字债权凭证), receivables factoring,
warehouse-receipt pledge, order financing and IoT evidence.
"""
