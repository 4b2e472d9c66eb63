"""TLS termination with an HTTP redirect listener, and the multi-process mode with SIGHUP."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import ssl
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayProcess, GatewayThread, free_port, policy_yaml, write_policy

StartGateway = Callable[[str], GatewayThread]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_terminated_and_http_redirected(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    redirect_port = free_port()
    text = policy_yaml(echo_upstream.address).replace(
        "listen:\n  - address: 127.0.0.1:",
        f"listen:\n  - tls: {{cert: {cert.name}, key: {key.name}, "
        f"redirect_from: 127.0.0.1:{redirect_port}}}\n    address: 127.0.0.1:")
    gateway = start_gateway(text)
    context = ssl.create_default_context(cafile=str(cert))
    response = httpx.get(f"https://127.0.0.1:{gateway.port}/secure?x=1", verify=context)
    assert response.status_code == 200
    names = dict((name, value) for name, value in response.json()["headers"])
    assert names["x-forwarded-proto"] == "https"
    redirect = httpx.get(f"http://127.0.0.1:{redirect_port}/secure?x=1", headers={"host": "localhost"})
    assert redirect.status_code == 308
    assert redirect.headers["location"] == f"https://localhost:{gateway.port}/secure?x=1"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(cert))
    with warnings.catch_warnings():
        # TLS 1.1 is deprecated in Python, which is the point: the gateway must refuse it.
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{gateway.port}/", verify=old)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_two_workers_answer_and_sighup_reloads(echo_upstream: EchoUpstream, tmp_path: Path) -> None:
    port = free_port()
    path = write_policy(tmp_path, policy_yaml(echo_upstream.address, port=port))
    with GatewayProcess(path, port, workers=2, extra_args=("--no-watch",)) as gateway:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(_children(gateway.process.pid)) < 2:
            time.sleep(0.05)
        workers = _children(gateway.process.pid)
        assert len(workers) == 2
        for _ in range(40):
            assert httpx.get(gateway.url + "/", headers={"connection": "close"}).status_code == 200
        assert echo_upstream.connections >= 2

        methods = "upstream: app\n    methods: {allow: [GET]}\n"
        path.write_text(path.read_text().replace("upstream: app\n", methods))
        gateway.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        statuses: list[int] = []
        while time.monotonic() < deadline:
            statuses = [
                httpx.post(gateway.url + "/", content=b"x", headers={"connection": "close"}).status_code
                for _ in range(20)
            ]
            if set(statuses) == {405}:
                break
            time.sleep(0.1)
        assert set(statuses) == {405}
        assert _children(gateway.process.pid) == workers

        signal_target = workers[0]
        os.kill(signal_target, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            current = _children(gateway.process.pid)
            if len(current) == 2 and signal_target not in current:
                break
            time.sleep(0.1)
        assert len(_children(gateway.process.pid)) == 2
        assert httpx.get(gateway.url + "/").status_code == 200
