"""``finchain bench crypto``: the gm and intl suites against the libraries they wrap.

Figures (rates are wall-clock; the box may be shared, so they move between runs):

* SM2 sign/verify per second on one thread, and verify across all cores through
  :meth:`CryptoSuite.verify_batch` (Tongsuo releases the GIL, so threads run in parallel);
* the same operations through ``tongsuopy`` called directly, and
  ``sm2_verify_overhead_ratio`` = finchain's verify time ÷ tongsuopy's — measured on thread CPU
  time in interleaved rounds (median), which other tenants' load does not skew;
* SM3 and SM4-GCM throughput on 1 MiB buffers, SM2 public-key encryption, Merkle roots of
  10,000 leaves, member-certificate verification;
* the intl suite (ECDSA P-256, SHA-256, AES-256-GCM) and the pure-Python ``gmssl`` oracle as peers.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import typer

_CPU: dict[str, float] = {}


def _rate(
    fn: Callable[[], object], seconds: float, *, min_ops: int = 3, cpu_key: str | None = None
) -> float:
    """Calls of ``fn`` per wall-clock second over about ``seconds``; with ``cpu_key`` the rate per
    second of this thread's CPU time is kept under that name too (robust on a loaded box)."""
    fn()  # warm up
    n = 0
    start = time.perf_counter()
    cpu0 = time.thread_time()
    deadline = start + seconds
    while True:
        fn()
        n += 1
        if n >= min_ops and time.perf_counter() >= deadline:
            break
    wall = time.perf_counter() - start
    if cpu_key is not None:
        _CPU[cpu_key] = n / max(time.thread_time() - cpu0, 1e-9)
    return n / wall


def _cpu_per_call(fn: Callable[[], object], calls: int) -> float:
    """Thread CPU seconds per call of ``fn`` over ``calls`` calls."""
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def command(
    quick: bool = typer.Option(False, "--quick", help="About 30-60 s instead of several minutes."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures here as JSON."),
) -> None:
    """Measure the crypto suites and the raw libraries under them."""
    from tongsuopy.crypto import hashes as ts_hashes
    from tongsuopy.crypto.asymciphers import ec as ts_ec

    from finchain.bench.report import report, stamp
    from finchain.crypto import get_suite, merkle_root
    from finchain.crypto.ca import CertificateAuthority, TrustStore

    _CPU.clear()
    budget = 1.0 if quick else 4.0
    gm, intl = get_suite("gm"), get_suite("intl")
    msg = os.urandom(64)
    figures: dict[str, float | int | str | bool | None] = {}

    # -- SM2 signatures, finchain vs tongsuopy ---------------------------------------------------
    key = gm.generate_key()
    pub = key.public_key()
    sig = gm.sign(key, msg)
    raw_priv = ts_ec.generate_private_key(ts_ec.SM2())
    raw_pub = raw_priv.public_key()
    alg = ts_ec.ECDSA(ts_hashes.SM3())
    raw_sig = raw_priv.sign(msg, alg)

    figures["sm2_sign_per_s"] = _rate(
        lambda: gm.sign(key, msg), budget, cpu_key="sm2_sign_per_cpu_s"
    )
    figures["sm2_verify_per_s"] = _rate(
        lambda: gm.verify(pub, msg, sig), budget, cpu_key="sm2_verify_per_cpu_s"
    )
    figures["tongsuopy_sm2_sign_per_s"] = _rate(lambda: raw_priv.sign(msg, alg), budget)
    figures["tongsuopy_sm2_verify_per_s"] = _rate(lambda: raw_pub.verify(raw_sig, msg, alg), budget)

    rounds, calls = (5, 200) if quick else (9, 600)
    ratios = []
    for _ in range(rounds):
        ours = _cpu_per_call(lambda: gm.verify(pub, msg, sig), calls)
        theirs = _cpu_per_call(lambda: raw_pub.verify(raw_sig, msg, alg), calls)
        ratios.append(ours / theirs)
    figures["sm2_verify_overhead_ratio"] = round(statistics.median(ratios), 4)

    # -- batch verification on every core --------------------------------------------------------
    n_batch = 2000 if quick else 8000
    keys = [gm.generate_key() for _ in range(16)]
    items = []
    for i in range(n_batch):
        k = keys[i % len(keys)]
        m = i.to_bytes(8, "big") + msg
        items.append((k.public_key(), m, gm.sign(k, m)))
    gm.verify_batch(items[:128])  # start the pool
    t = time.perf_counter()
    ok = gm.verify_batch(items)
    figures["sm2_verify_per_s_all_cores"] = n_batch / (time.perf_counter() - t)
    figures["cores"] = os.cpu_count() or 1
    if not all(ok):  # pragma: no cover - would be a bug
        raise RuntimeError("batch verification rejected a valid signature")

    # -- hashing and symmetric encryption --------------------------------------------------------
    mib = os.urandom(1 << 20)
    figures["sm3_mb_per_s"] = _rate(lambda: gm.hash(mib), budget, cpu_key="sm3") * (len(mib) / 1e6)
    _CPU["sm3_mb_per_cpu_s"] = _CPU.pop("sm3") * len(mib) / 1e6
    sm4_key = gm.new_symmetric_key()
    figures["sm4_gcm_mb_per_s"] = _rate(lambda: gm.encrypt(sm4_key, mib), budget, cpu_key="sm4") * (
        len(mib) / 1e6
    )
    _CPU["sm4_gcm_mb_per_cpu_s"] = _CPU.pop("sm4") * len(mib) / 1e6
    figures["sha256_mb_per_s"] = _rate(lambda: intl.hash(mib), budget) * (len(mib) / 1e6)
    aes_key = intl.new_symmetric_key()
    figures["aes_gcm_mb_per_s"] = _rate(lambda: intl.encrypt(aes_key, mib), budget) * (
        len(mib) / 1e6
    )

    # -- public-key encryption (a 32-byte document key) ------------------------------------------
    doc_key = os.urandom(32)
    sealed = gm.pke_encrypt(pub, doc_key)
    figures["sm2_encrypt_per_s"] = _rate(lambda: gm.pke_encrypt(pub, doc_key), budget)
    figures["sm2_decrypt_per_s"] = _rate(lambda: gm.pke_decrypt(key, sealed), budget)
    ikey = intl.generate_key()
    isealed = intl.pke_encrypt(ikey.public_key(), doc_key)
    figures["ecies_encrypt_per_s"] = _rate(
        lambda: intl.pke_encrypt(ikey.public_key(), doc_key), budget
    )
    figures["ecies_decrypt_per_s"] = _rate(lambda: intl.pke_decrypt(ikey, isealed), budget)

    # -- Merkle roots ----------------------------------------------------------------------------
    leaves = [os.urandom(32) for _ in range(10_000)]
    repeats = 5 if quick else 15
    figures["merkle_10k_ms"] = _median_ms(lambda: merkle_root(gm, leaves), repeats)
    figures["merkle_10k_intl_ms"] = _median_ms(lambda: merkle_root(intl, leaves), repeats)

    # -- intl signatures -------------------------------------------------------------------------
    isig = intl.sign(ikey, msg)
    ipub = ikey.public_key()
    figures["intl_sign_per_s"] = _rate(lambda: intl.sign(ikey, msg), budget)
    figures["intl_verify_per_s"] = _rate(
        lambda: intl.verify(ipub, msg, isig), budget, cpu_key="intl_verify_per_cpu_s"
    )
    iitems = [(ipub, m, intl.sign(ikey, m)) for _, m, _ in items[: n_batch // 2]]
    t = time.perf_counter()
    intl.verify_batch(iitems)
    figures["intl_verify_per_s_all_cores"] = len(iitems) / (time.perf_counter() - t)

    # -- certificates ----------------------------------------------------------------------------
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ca = CertificateAuthority.create(Path(tmp) / "ca", org="bench", suite="gm")
        cert = ca.issue(org="bank", role="node", name="n1", public_key=pub)
        store = TrustStore([ca.certificate], [ca.crl()])
        now = cert.not_before + 1
        figures["cert_verify_per_s"] = _rate(lambda: store.verify(cert, now), budget)

    # -- peer: the pure-Python gmssl oracle ------------------------------------------------------
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from gmssl import sm2 as pure_sm2

    r, s = decode_dss_signature(sig)
    oracle = pure_sm2.CryptSM2(
        private_key=key.to_bytes().hex(), public_key=pub.to_bytes()[1:].hex()
    )
    figures["gmssl_pure_sm2_verify_per_s"] = _rate(
        lambda: oracle.verify_with_sm3(f"{r:064x}{s:064x}", msg), min(budget, 1.0), min_ops=3
    )

    figures.update(_CPU)
    for name, value in list(figures.items()):
        if isinstance(value, float):
            figures[name] = round(value, 4 if "ratio" in name else 1)
    report(
        "finchain bench crypto" + (" --quick" if quick else ""),
        figures,
        json_path=json_path,
        notes={
            "machine": stamp(),
            "ratio": "finchain verify CPU time / tongsuopy verify CPU time (target <= 1.10)",
            "load": f"load average {os.getloadavg()[0]:.1f} at the end (shared box: rates vary)",
        },
    )
