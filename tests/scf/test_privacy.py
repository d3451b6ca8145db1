from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.crypto import get_suite
from finchain.scf.privacy import (
    Disclosure,
    FieldCommitment,
    PrivacyError,
    SealedDocument,
    may_read,
    open_sealed,
    seal,
)


@pytest.mark.parametrize("suite_name", ["gm", "intl"])
def test_sealed_document_only_recipients_read(suite_name: str) -> None:
    suite = get_suite(suite_name)
    buyer, supplier, outsider = (suite.generate_key() for _ in range(3))
    doc = "采购合同 PO-1: 1,000 units at 42.00 CNY".encode()
    sealed = seal(suite, doc, {"buyer": buyer.public_key(), "supplier": supplier.public_key()})
    sealed = SealedDocument.from_json(sealed.to_json())
    assert open_sealed(suite, sealed, "buyer", buyer) == doc
    assert open_sealed(suite, sealed, "supplier", supplier) == doc
    assert sealed.document_hash == suite.hash(doc).hex()
    with pytest.raises(PrivacyError, match="not a recipient"):
        open_sealed(suite, sealed, "outsider", outsider)
    with pytest.raises(PrivacyError, match="cannot open"):
        open_sealed(suite, sealed, "buyer", outsider)
    tampered = SealedDocument(
        sealed.suite, sealed.document_hash, sealed.ciphertext[:-1] + b"\x00", sealed.wrapped_keys
    )
    with pytest.raises(PrivacyError):
        open_sealed(suite, tampered, "buyer", buyer)


@settings(max_examples=30, deadline=None)
@given(
    fields=st.dictionaries(
        st.text(min_size=1, max_size=8), st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=6
    ),
    wrong=st.integers(-(2**63), 2**63 - 1),
)
def test_selective_disclosure(fields: dict[str, int], wrong: int) -> None:
    suite = get_suite("gm")
    c = FieldCommitment(suite, fields)
    for name, value in fields.items():
        d = c.disclose(name)
        assert FieldCommitment.verify(suite, c.root, d)
        if wrong != value:
            assert not FieldCommitment.verify(
                suite, c.root, Disclosure(name, wrong, d.salt, d.proof)
            )


def test_read_permissions() -> None:
    v = {
        "holder": "a",
        "issuer": "b",
        "obligor": "b",
        "financing": {"funder": "c", "applicant": "a"},
    }
    assert may_read(v, "a", "supplier") and may_read(v, "c", "bank")
    assert not may_read(v, "z", "supplier")
    assert may_read(v, "z", "regulator")
