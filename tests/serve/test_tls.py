"""--ssl_config_file: gRPC over TLS with TF Serving's SSLConfig, certificates made by a CA the
test creates with openssl."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from liveri.serve.server import ModelServer
from tensorflow_serving.apis import prediction_service_pb2_grpc

from liveri.errors import UsageError
from tests.serve.serve_helpers import digits_request, sample_pixels

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, and a server (localhost) and a client certificate it signed: PEM texts."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                 "-out", f"{name}.pem", cwd=d)
    return {p.name: p.read_text() for p in d.iterdir() if p.suffix in (".pem", ".key")}


def _config(tmp_path, pki, client_verify: bool) -> str:
    path = tmp_path / "ssl.config"
    path.write_text(f"server_key: {pki['server.key']!r}\nserver_cert: {pki['server.pem']!r}\n"
                    f"custom_ca: {pki['ca.pem']!r}\nclient_verify: {str(client_verify).lower()}\n")
    return str(path)


def _predict(port: int, credentials) -> int:
    with (grpc.secure_channel(f"localhost:{port}", credentials) if credentials
          else grpc.insecure_channel(f"localhost:{port}")) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(digits_request(sample_pixels(1)), timeout=10).model_spec.version.value


@pytest.mark.parametrize("client_verify", [False, True])
def test_grpc_over_tls_with_and_without_client_certificates(tmp_path, model_repo, pki,
                                                           client_verify):
    ca = pki["ca.pem"].encode()
    with_client_cert = grpc.ssl_channel_credentials(
        ca, pki["client.key"].encode(), pki["client.pem"].encode())
    with ModelServer(model_repo=model_repo, port=0, rest_api_port=None, metrics_port=None,
                     ssl_config_file=_config(tmp_path, pki, client_verify)) as server:
        assert _predict(server.grpc_port, with_client_cert) == 1
        refused = [None] + ([grpc.ssl_channel_credentials(ca)] if client_verify else [])
        for credentials in refused:  # plaintext; and, when verifying, no client certificate
            with pytest.raises(grpc.RpcError) as caught:
                _predict(server.grpc_port, credentials)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        if not client_verify:
            assert _predict(server.grpc_port, grpc.ssl_channel_credentials(ca)) == 1


def test_a_bad_ssl_config_is_a_usage_error(tmp_path):
    path = tmp_path / "ssl.config"
    path.write_text('server_key: "x"\nclient_verfy: true\n')
    with pytest.raises(UsageError, match="SSLConfig.*client_verfy"):
        ModelServer(model_repo=str(tmp_path), ssl_config_file=str(path))
