"""The gRPC transport: one generic ``Push`` method per party, mutual TLS on every connection.

Each party runs a gRPC server exposing ``/finchain.fl.Party/Push`` (request and reply are raw
bytes, no generated stubs). A request is an envelope ``{src, tag, payload}`` encoded with
:mod:`finchain.fl.codec`. The server requires a client certificate from the job CA and checks
that the certificate's common name equals the envelope's ``src`` — a party cannot speak for
another. Clients verify the server's certificate against the same CA and the peer's party name.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures
from typing import Any

import grpc
from cryptography import x509

from finchain.fl import codec
from finchain.fl.errors import CertificateError, PartyDropped, ProtocolError
from finchain.fl.transport.base import Channel
from finchain.fl.transport.certs import PartyCredentials

log = logging.getLogger(__name__)

_METHOD = "/finchain.fl.Party/Push"
_MAX_MSG = 1 << 30
_OPTIONS = [
    ("grpc.max_send_message_length", _MAX_MSG),
    ("grpc.max_receive_message_length", _MAX_MSG),
]


def _peer_cn(context: grpc.ServicerContext) -> str:
    auth = context.auth_context()
    names = auth.get("x509_common_name") or []
    if names:
        return bytes(names[0]).decode()
    pem = auth.get("x509_pem_cert") or []
    if pem:
        cert = x509.load_pem_x509_certificate(bytes(pem[0]))
        attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else ""
    return ""


class GrpcChannel(Channel):
    """A party's server plus lazily opened client connections to its peers."""

    def __init__(
        self,
        me: str,
        creds: PartyCredentials,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 120.0,
        connect_timeout: float = 30.0,
    ) -> None:
        super().__init__(me, [me], timeout=timeout)
        self.creds = creds
        self.connect_timeout = connect_timeout
        self.addresses: dict[str, str] = {}
        self._stubs: dict[str, Any] = {}
        self._channels: dict[str, grpc.Channel] = {}
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=_OPTIONS)
        handler = grpc.method_handlers_generic_handler(
            "finchain.fl.Party", {"Push": grpc.unary_unary_rpc_method_handler(self._on_push)}
        )
        self._server.add_generic_rpc_handlers((handler,))
        server_creds = grpc.ssl_server_credentials(
            [(creds.key_pem, creds.cert_pem)],
            root_certificates=creds.ca_pem,
            require_client_auth=True,
        )
        self.port = self._server.add_secure_port(f"{host}:{port}", server_creds)
        if self.port == 0:
            raise CertificateError(f"party {me!r} could not listen on {host}:{port}")
        self._server.start()

    def _on_push(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            env = codec.loads(request)
            src, tag, payload = env["src"], env["tag"], env["payload"]
        except (ProtocolError, KeyError, TypeError):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed envelope")
        peer = _peer_cn(context)
        if peer != src:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"certificate of {peer!r} cannot send as {src!r}"
            )
        self.mailbox.put(src, tag, codec.loads(payload))
        return b"ok"

    def connect(self, addresses: dict[str, str]) -> None:
        """Learn where the peers listen (``party → host:port``)."""
        self.addresses.update(addresses)
        self.parties = sorted(set(self.parties) | set(addresses))

    def _stub(self, dst: str) -> Any:
        stub = self._stubs.get(dst)
        if stub is None:
            if dst not in self.addresses:
                raise PartyDropped(f"no address known for party {dst!r}", party=dst)
            creds = grpc.ssl_channel_credentials(
                root_certificates=self.creds.ca_pem,
                private_key=self.creds.key_pem,
                certificate_chain=self.creds.cert_pem,
            )
            options = [*_OPTIONS, ("grpc.ssl_target_name_override", dst)]
            ch = grpc.secure_channel(self.addresses[dst], creds, options=options)
            self._channels[dst] = ch
            stub = ch.unary_unary(_METHOD)
            self._stubs[dst] = stub
        return stub

    def send(self, dst: str, tag: str, obj: Any) -> None:
        """Push one message; retry while the peer is starting, then report it as dropped."""
        if dst == self.me:
            self.mailbox.put(self.me, tag, obj)
            return
        raw = codec.dumps({"src": self.me, "tag": tag, "payload": codec.dumps(obj)})
        self.bytes_sent += len(raw)
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                self._stub(dst)(raw, timeout=max(self.timeout, 1.0), wait_for_ready=True)
                return
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code == grpc.StatusCode.PERMISSION_DENIED:
                    raise CertificateError(
                        f"party {dst!r} refused {self.me!r}: {exc.details()}"
                    ) from exc
                if code in (grpc.StatusCode.UNAVAILABLE,) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise PartyDropped(
                    f"could not deliver {tag!r} to party {dst!r}: {code.name if code else exc}",
                    party=dst,
                    tag=tag,
                ) from exc

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()
        self._server.stop(grace=0.5)
