"""First-hand IoT evidence: device-signed readings, gateway batching and on-chain anchoring."""
