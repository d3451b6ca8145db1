"""``scf_iot``: the device registry, Merkle anchors of reading batches, and evidence-backed events.

* Devices are registered with their SM2 public key; the device id is the SM3 address of the key.
* The gateway anchors each batch of verified readings as a Merkle root (with the highest counter
  seen per device, so counters must strictly increase across batches).
* ``report`` turns one reading into a business event — a temperature excursion, a shipment
  leaving its corridor, an RFID count — and **proves it on chain**: the contract checks the
  device's signature and the reading's inclusion proof against an anchored root before it flags
  the order or the warehouse receipt that depends on it.
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.crypto import get_suite
from finchain.crypto.merkle import MerkleProof, verify_proof
from finchain.scf.contracts.base import RecordContract, require_id
from finchain.scf.iot.reading import DEVICE_SUITE, KINDS, device_id, leaf, reading_is_valid

EVENT_KINDS = ("excursion", "geofence", "count", "delivery")


class ScfIot(RecordContract):
    name = "scf_iot"

    @method
    def register_device(self, public_key: str, kind: str, site: str, subject: str) -> str:
        """Register a device (operator, logistics or warehouse). ``subject`` is what it watches,
        e.g. ``order:PO-1`` or ``receipt:WR-7``. Returns the device id."""
        self.require_role(self.caller, "operator", "logistics", "warehouse")
        self.require(kind in KINDS, f"kind must be one of {', '.join(KINDS)}")
        try:
            raw = bytes.fromhex(public_key)
            dev = device_id(raw)
        except Exception:
            self.require(False, "public_key must be a hex SM2 public key")
            raise
        self.require(not self.exists("device", dev), f"device {dev} already registered")
        self.save(
            "device",
            dev,
            {
                "id": dev,
                "public_key": public_key,
                "kind": kind,
                "site": site,
                "subject": subject,
                "owner": self.caller,
                "status": "active",
                "counter": -1,
            },
        )
        self.ctx.emit("DeviceRegistered", {"device": dev, "kind": kind, "subject": subject})
        return dev

    @method
    def retire_device(self, device: str) -> None:
        d = self.must_load("device", device)
        self.require(self.caller == d["owner"], "only the device's owner retires it")
        d["status"] = "retired"
        self.save("device", device, d)

    @method
    def anchor(self, batch_id: str, root: str, count: int, counters: dict[str, int]) -> None:
        """Anchor a batch of verified readings (gateway: logistics, warehouse or operator)."""
        require_id(batch_id, "batch_id")
        self.require_role(self.caller, "operator", "logistics", "warehouse")
        self.require(not self.exists("batch", batch_id), f"batch {batch_id} already anchored")
        self.require(len(root) == 64, "root must be 32 bytes hex")
        self.require(isinstance(count, int) and count > 0, "count must be positive")
        for dev, counter in sorted(counters.items()):
            d = self.must_load("device", dev)
            self.require(d["status"] == "active", f"device {dev} is {d['status']}")
            self.require(
                counter > d["counter"], f"device {dev}: counter {counter} is not increasing"
            )
            d["counter"] = counter
            self.save("device", dev, d)
        self.save(
            "batch",
            batch_id,
            {"root": root, "count": count, "gateway": self.caller, "height": self.ctx.height},
        )
        self.ctx.emit("ReadingsAnchored", {"batch": batch_id, "root": root, "count": count})

    @method
    def report(
        self,
        event: str,
        reading: dict[str, Any],
        signature: str,
        batch_id: str,
        proof: str,
        reason: str,
    ) -> str:
        """Raise a business event from one proven reading; flags what depends on the device."""
        self.require(event in EVENT_KINDS, f"event must be one of {', '.join(EVENT_KINDS)}")
        self.require_role(self.caller, "operator", "logistics", "warehouse")
        dev = self.must_load("device", str(reading.get("device", "")))
        batch = self.must_load("batch", batch_id)
        sig = bytes.fromhex(signature)
        self.require(
            reading_is_valid(bytes.fromhex(dev["public_key"]), reading, sig),
            "the reading's device signature does not verify",
        )
        try:
            merkle_proof = MerkleProof.decode(bytes.fromhex(proof))
        except ValueError:
            self.require(False, "malformed Merkle proof")
            raise
        self.require(
            verify_proof(
                get_suite(DEVICE_SUITE),
                bytes.fromhex(batch["root"]),
                leaf(reading, sig),
                merkle_proof,
            ),
            "the reading is not in the anchored batch",
        )
        subject = dev["subject"]
        kind, _, ident = subject.partition(":")
        if event in ("excursion", "geofence", "count"):
            if kind == "order":
                self.ctx.call("scf_trade", "flag", {"order_id": ident, "reason": reason})
            elif kind == "receipt" and event == "count":
                counted = int(reading.get("value", {}).get("count", 0))
                self.ctx.call(
                    "scf_warehouse",
                    "device_count",
                    {"receipt_id": ident, "counted": counted, "evidence": batch_id},
                )
            elif kind == "receipt":
                self.ctx.call(
                    "scf_warehouse",
                    "excursion",
                    {"receipt_id": ident, "reason": reason, "evidence": batch_id},
                )
        elif event == "delivery" and kind == "order":
            self.ctx.call(
                "scf_trade",
                "confirm_delivery",
                {"order_id": ident, "source": "device", "evidence": batch_id},
            )
        self.ctx.emit(
            "DeviceEvent",
            {
                "event": event,
                "device": dev["id"],
                "subject": subject,
                "reason": reason,
                "batch": batch_id,
                "counter": reading.get("counter"),
            },
        )
        return subject

    @view
    def device(self, device: str) -> dict[str, Any] | None:
        return self.load("device", device)

    @view
    def batch(self, batch_id: str) -> dict[str, Any] | None:
        return self.load("batch", batch_id)
