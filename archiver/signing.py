"""Ed25519 keys for signed tree heads: made by `archiver init`, the public half exportable."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from archiver.errors import ArchiverError, ProofError


def key_id(public_raw: bytes) -> str:
    """SHA-256 of the raw 32-byte public key: names the key in every checkpoint."""
    return hashlib.sha256(public_raw).hexdigest()


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    def public_pem(self) -> str:
        return (
            self._private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )


def create_key(path: Path) -> Signer:
    """Write a new private key readable by its owner only; refuse to replace one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return Signer(private_key)


def load_signer(path: Path) -> Signer:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ArchiverError(
            f"signing key {path} not found: run `archiver init` or set signing.key_file"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ArchiverError(f"{path} is not an Ed25519 private key")
    return Signer(key)


def verify_signature(public_raw: bytes, data: bytes, signature_b64: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(base64.b64decode(signature_b64), data)
    except (InvalidSignature, ValueError) as exc:
        raise ProofError(f"Ed25519 signature does not verify for key {key_id(public_raw)}") from exc
