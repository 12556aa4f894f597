#!/usr/bin/env python3
"""Reference restorer for the iTunes-backup benchmark: what mvt's and iOSbackup's decrypt step does.

Reads Manifest.db (decrypting it first for an encrypted backup: keybag from Manifest.plist,
PBKDF2 with hashlib, RFC 3394 unwrap and AES-CBC from the `cryptography` package), then copies
or decrypts every file to OUT/<domain>/<relativePath>, 1 MiB at a time. No hashing.

Usage: ios_reference.py BACKUP_DIR OUT_DIR [PASSWORD]
"""
import hashlib
import os
import plistlib
import sqlite3
import struct
import sys
import tempfile

CHUNK = 1 << 20


def keybag_class_keys(blob: bytes, password: str) -> dict:
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

    header, classes, current = {}, [], None
    pos = 0
    while pos + 8 <= len(blob):
        tag = blob[pos : pos + 4].decode("ascii", "replace")
        n = struct.unpack(">I", blob[pos + 4 : pos + 8])[0]
        value = blob[pos + 8 : pos + 8 + n]
        pos += 8 + n
        if tag == "UUID" and "UUID" in header:
            current = {"UUID": value}
            classes.append(current)
        elif current is not None:
            current[tag] = value
        else:
            header[tag] = value
    number = lambda v: struct.unpack(">I", v)[0]
    key = password.encode("utf-8")
    if "DPSL" in header:
        key = hashlib.pbkdf2_hmac("sha256", key, header["DPSL"], number(header["DPIC"]), 32)
    key = hashlib.pbkdf2_hmac("sha1", key, header["SALT"], number(header["ITER"]), 32)
    keys = {}
    for c in classes:
        if "WPKY" in c and number(c.get("WRAP", b"\0\0\0\0")) & 2:
            keys[number(c["CLAS"])] = aes_key_unwrap(key, c["WPKY"])
    return keys


def decrypt_stream(key: bytes, src, dst, size: int) -> None:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    dec = Cipher(algorithms.AES(key), modes.CBC(b"\0" * 16)).decryptor()
    unpad = padding.PKCS7(128).unpadder()
    left = size
    while True:
        data = src.read(CHUNK)
        out = unpad.update(dec.update(data)) if data else unpad.update(dec.finalize()) + unpad.finalize()
        out = out[:left]
        left -= len(out)
        dst.write(out)
        if not data:
            break


def main() -> int:
    backup, out = sys.argv[1], sys.argv[2]
    password = sys.argv[3] if len(sys.argv) > 3 else None
    manifest_plist = plistlib.load(open(os.path.join(backup, "Manifest.plist"), "rb"))
    class_keys = None
    db_path = os.path.join(backup, "Manifest.db")
    if manifest_plist.get("IsEncrypted"):
        from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

        class_keys = keybag_class_keys(manifest_plist["BackupKeyBag"], password)
        mk = manifest_plist["ManifestKey"]
        db_key = aes_key_unwrap(class_keys[struct.unpack("<I", mk[:4])[0]], mk[4:])
        plain = tempfile.NamedTemporaryFile(suffix=".db", delete=False)
        with open(db_path, "rb") as src:
            decrypt_stream(db_key, src, plain, os.path.getsize(db_path))
        plain.close()
        db_path = plain.name
    db = sqlite3.connect(db_path)
    for file_id, domain, rel, flags, blob in db.execute(
        "SELECT fileID, domain, relativePath, flags, file FROM Files"
    ):
        target = os.path.join(out, domain, rel)
        if flags == 2:
            os.makedirs(target, exist_ok=True)
            continue
        if flags != 1:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        src_path = os.path.join(backup, file_id[:2], file_id)
        with open(src_path, "rb") as src, open(target, "wb") as dst:
            if class_keys is None:
                while True:
                    data = src.read(CHUNK)
                    if not data:
                        break
                    dst.write(data)
            else:
                mbfile = plistlib.loads(blob)
                objects = mbfile["$objects"]
                root = objects[mbfile["$top"]["root"].data]
                wrapped = objects[root["EncryptionKey"].data]
                wrapped = wrapped["NS.data"] if isinstance(wrapped, dict) else wrapped
                key = aes_key_unwrap(class_keys[struct.unpack("<I", wrapped[:4])[0]], wrapped[4:])
                decrypt_stream(key, src, dst, root["Size"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
