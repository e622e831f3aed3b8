"""Keys and signatures for LA summaries (Ed25519).

An LA that joins a pooled regional evaluation makes a key pair once
(``rpc-eval keygen --la LA001 --out northtown``): ``northtown.key`` is private (file mode
600; it never leaves the LA) and ``northtown.pub`` is public and names the LA. The LA
gives the ``.pub`` file to the coordinator by a channel the coordinator trusts (in
person, a known e-mail address, a phone call comparing the fingerprint), and signs each
summary it sends (``rpc-eval summarise ... --sign-key northtown.key``). The coordinator
keeps the LAs' ``.pub`` files in one folder and pools with ``--trusted-keys FOLDER``:
only summaries whose signature verifies under the key of *their own* LA are accepted.

What a signature proves: the summary's content (every number, the plan settings and the
LA code) is exactly what the holder of that LA's private key signed. It does not prove
the numbers are right (the LA's data could be wrong), and it proves nothing if the
private key was shared or the ``.pub`` file was not obtained from the LA itself.

The signed bytes are the canonical JSON of the summary without its ``signature`` entry
(keys sorted, no spaces, ASCII; :func:`canonical_bytes`), so layout does not matter and
any change to a value does. Ed25519: Bernstein et al. (2012), RFC 8032; implementation:
the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpc_eval.errors import RpcEvalError

__all__ = ["PublicKey", "generate_keypair", "load_private_key", "load_public_key",
           "load_trusted_keys", "sign_summary", "verify_summary", "canonical_bytes",
           "normalise_la_code"]

_PRIVATE_SCHEMA = "rpc-eval-private-key"
_PUBLIC_SCHEMA = "rpc-eval-public-key"
ALGORITHM = "Ed25519"


def normalise_la_code(code: str) -> str:
    """An LA code as compared across summaries and keys: surrounding and inner spaces
    removed, upper case (``" la001 "`` and ``"LA001"`` are the same LA).

    >>> normalise_la_code(" la 001 ")
    'LA001'
    """
    return "".join(str(code).split()).upper()


def canonical_bytes(summary: Mapping[str, Any]) -> bytes:
    """The bytes a summary's signature covers: canonical JSON without ``signature``."""
    body = {k: v for k, v in summary.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=True).encode("ascii")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: Any, where: str, what: str) -> bytes:
    try:
        if not isinstance(s, str):
            raise ValueError
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise RpcEvalError(f"{where}: the {what} is not valid base64 text") from None


def _key_id(public_raw: bytes) -> str:
    """The key's fingerprint: the first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """A trusted public key: ``la_code`` (as in the file), ``key_id`` (fingerprint),
    ``raw`` (32 bytes) and the file it came from."""

    la_code: str
    key_id: str
    raw: bytes
    file: Path


def generate_keypair(prefix: str | Path, la_code: str) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair for ``la_code``: ``<prefix>.key`` (private, created
    with file mode 600 and never overwritten) and ``<prefix>.pub`` (public).

    Returns
    -------
    (Path, Path)
        The private and the public key file.

    Raises
    ------
    RpcEvalError
        Either file exists already (an existing key is never replaced), or the LA code is
        empty.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not normalise_la_code(la_code):
        raise RpcEvalError("give the LA the key belongs to with --la CODE")
    prefix = Path(prefix)
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    for p in (key_path, pub_path):
        if p.exists():
            raise RpcEvalError(f"{p} exists already; a key is never overwritten. Choose "
                               "another --out, or delete the old key pair yourself if you "
                               "mean to replace it")
    key = Ed25519PrivateKey.generate()
    private_raw = key.private_bytes(serialization.Encoding.Raw,
                                    serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    public_raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    code = la_code.strip()
    private = {"schema": _PRIVATE_SCHEMA, "algorithm": ALGORITHM, "la_code": code,
               "key_id": _key_id(public_raw), "private_key": _b64(private_raw),
               "note": "PRIVATE: keep this file at the LA; never send it to anyone"}
    public = {"schema": _PUBLIC_SCHEMA, "algorithm": ALGORITHM, "la_code": code,
              "key_id": _key_id(public_raw), "public_key": _b64(public_raw)}
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(private, indent=2, sort_keys=True) + "\n")
    os.chmod(key_path, 0o600)  # whatever the umask
    pub_path.write_text(json.dumps(public, indent=2, sort_keys=True) + "\n",
                        encoding="utf-8")
    return key_path, pub_path


def _read_key_file(path: Path, schema: str, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise RpcEvalError(f"{path}: no such {what} file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        obj = None
    if not isinstance(obj, dict) or obj.get("schema") != schema \
            or obj.get("algorithm") != ALGORITHM or not isinstance(obj.get("la_code"), str):
        raise RpcEvalError(f"{path.name}: this is not an rpc-eval {what} file (made by "
                           "rpc-eval keygen)")
    return obj


def load_private_key(path: str | Path) -> tuple[Any, str, str]:
    """The private key in ``path`` (from :func:`generate_keypair`), its LA code and key id.

    Raises
    ------
    RpcEvalError
        Not a private key file, or (on POSIX systems) readable by other users: the key
        would no longer prove who signed.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    p = Path(path)
    obj = _read_key_file(p, _PRIVATE_SCHEMA, "private key")
    if os.name == "posix" and stat.S_IMODE(p.stat().st_mode) & 0o077:
        raise RpcEvalError(f"{p}: the private key can be read by other users of this "
                           f"computer; make it private with: chmod 600 {p}")
    raw = _unb64(obj.get("private_key"), p.name, "private key")
    try:
        key = Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        raise RpcEvalError(f"{p.name}: the private key is damaged (wrong length)") from None
    return key, obj["la_code"], obj.get("key_id", "")


def load_public_key(path: str | Path) -> PublicKey:
    """A public key file (``.pub`` from :func:`generate_keypair`)."""
    p = Path(path)
    obj = _read_key_file(p, _PUBLIC_SCHEMA, "public key")
    raw = _unb64(obj.get("public_key"), p.name, "public key")
    if len(raw) != 32:
        raise RpcEvalError(f"{p.name}: the public key is damaged (wrong length)")
    if obj.get("key_id") not in (None, _key_id(raw)):
        raise RpcEvalError(f"{p.name}: the key's fingerprint does not match the key; the "
                           "file was edited")
    return PublicKey(obj["la_code"], _key_id(raw), raw, p)


def load_trusted_keys(folder: str | Path) -> dict[str, PublicKey]:
    """Every ``*.pub`` file of ``folder``, by key id.

    Raises
    ------
    RpcEvalError
        The folder is missing or holds no public key, or a file is not a public key.
    """
    d = Path(folder)
    if not d.is_dir():
        raise RpcEvalError(f"--trusted-keys {d}: no such folder")
    keys: dict[str, PublicKey] = {}
    for f in sorted(d.glob("*.pub")):
        k = load_public_key(f)
        keys[k.key_id] = k
    if not keys:
        raise RpcEvalError(f"--trusted-keys {d}: the folder holds no public key (.pub) "
                           "files; put each LA's .pub file there")
    return keys


def sign_summary(summary: Mapping[str, Any], key_path: str | Path) -> dict[str, Any]:
    """``summary`` with a ``signature`` entry (``algorithm``, ``key_id``, ``la_code`` of
    the key, ``value`` in base64) over :func:`canonical_bytes`.

    Raises
    ------
    RpcEvalError
        The key belongs to another LA than the summary.
    """
    key, la, key_id = load_private_key(key_path)
    if normalise_la_code(la) != normalise_la_code(summary["la_code"]):
        raise RpcEvalError(f"{Path(key_path).name} is the key of {la}, but the summary is of "
                           f"{summary['la_code']}; sign with the key of {summary['la_code']}")
    body = {k: v for k, v in summary.items() if k != "signature"}
    sig = key.sign(canonical_bytes(body))
    return {**body, "signature": {"algorithm": ALGORITHM, "key_id": key_id, "la_code": la,
                                  "value": _b64(sig)}}


def verify_summary(summary: Mapping[str, Any], keys: Mapping[str, PublicKey],
                   where: str, folder: str | Path) -> PublicKey:
    """Check ``summary``'s signature against the trusted ``keys``; return the key.

    The summary must be signed, by a key in ``keys``, that key must belong to the
    summary's own LA (codes compared by :func:`normalise_la_code`), and the signature must
    verify over the summary's canonical bytes.

    Raises
    ------
    RpcEvalError
        One sentence naming ``where`` (the file) and what failed.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = summary.get("signature")
    if not isinstance(sig, dict):
        raise RpcEvalError(f"{where}: the summary is not signed, and with --trusted-keys only "
                           "signed summaries are pooled; ask the LA to run rpc-eval "
                           "summarise again with --sign-key")
    key_id = sig.get("key_id")
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise RpcEvalError(f"{where}: the summary is signed with a key that is not among "
                           f"the trusted keys in {folder}")
    if normalise_la_code(key.la_code) != normalise_la_code(summary.get("la_code", "")):
        raise RpcEvalError(f"{where}: the summary of {summary.get('la_code')} is signed with "
                           f"the key of {key.la_code} ({key.file.name}); an LA can sign only "
                           "its own summary")
    value = _unb64(sig.get("value"), where, "signature")
    try:
        Ed25519PublicKey.from_public_bytes(key.raw).verify(value, canonical_bytes(summary))
    except (InvalidSignature, ValueError):
        raise RpcEvalError(f"{where}: the signature does not match the content, so the "
                           f"summary was changed after {key.la_code} signed it; ask the LA "
                           "for the file again") from None
    return key
