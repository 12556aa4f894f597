#!/usr/bin/env python3
"""Reference unpacker for the .ab benchmark: streams an Android backup to stdout as tar.

The peer exhibit is measured against (bench/ab.sh pipes it into `tar -x`): Python's zlib and
the `cryptography` package (OpenSSL's AES-NI), reading 1 MiB at a time, so it streams with flat
memory like exhibit does. Usage: ab_reference.py BACKUP.ab [PASSWORD] > backup.tar
"""
import hashlib
import sys
import zlib

CHUNK = 1 << 20


def java_chars_utf8(raw: bytes) -> bytes:
    # Android >= 4.4 (backup version >= 2) turns each signed byte into a Java char, then UTF-8.
    return "".join(chr(b if b < 0x80 else 0xFF00 | b) for b in raw).encode("utf-8")


def main() -> int:
    path = sys.argv[1]
    password = sys.argv[2] if len(sys.argv) > 2 else None
    src = open(path, "rb", buffering=0)

    def line() -> bytes:
        out = bytearray()
        while True:
            b = src.read(1)
            if not b or b == b"\n":
                return bytes(out)
            out += b

    magic, version, compressed, encryption = line(), int(line()), line() == b"1", line()
    if magic != b"ANDROID BACKUP":
        sys.exit("not an android backup")
    decryptor = None
    if encryption == b"AES-256":
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives import padding

        user_salt = bytes.fromhex(line().decode())
        ck_salt = bytes.fromhex(line().decode())
        rounds = int(line())
        user_iv = bytes.fromhex(line().decode())
        blob = bytes.fromhex(line().decode())
        pw = password.encode("utf-8") if version >= 2 else password.encode("latin-1")
        user_key = hashlib.pbkdf2_hmac("sha1", pw, user_salt, rounds, 32)
        d = Cipher(algorithms.AES(user_key), modes.CBC(user_iv)).decryptor()
        u = padding.PKCS7(128).unpadder()
        plain = u.update(d.update(blob) + d.finalize()) + u.finalize()
        n = plain[0]
        mk_iv, rest = plain[1 : 1 + n], plain[1 + n :]
        n = rest[0]
        mk, rest = rest[1 : 1 + n], rest[1 + n :]
        checksum = rest[1 : 1 + rest[0]]
        mk_pw = java_chars_utf8(mk) if version >= 2 else mk
        if hashlib.pbkdf2_hmac("sha1", mk_pw, ck_salt, rounds, 32) != checksum:
            sys.exit("wrong password")
        decryptor = Cipher(algorithms.AES(mk), modes.CBC(mk_iv)).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
    inflate = zlib.decompressobj() if compressed else None
    out = sys.stdout.buffer
    while True:
        data = src.read(CHUNK)
        last = not data
        if decryptor is not None:
            data = unpadder.update(decryptor.update(data)) if data else (
                unpadder.update(decryptor.finalize()) + unpadder.finalize())
        if inflate is not None:
            data = inflate.decompress(data) if not last else inflate.decompress(data) + inflate.flush()
        if data:
            out.write(data)
        if last:
            break
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
