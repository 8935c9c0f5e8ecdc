"""ENS names: normalised as ENSIP-15 says (the ``ens-normalize`` package) and hashed into the
nodes the registry knows them by (ENSIP-1's namehash). A wallet on an EVM chain may be added by
name; the name's address is what is stored, and the name is kept beside it."""

from __future__ import annotations

import re

from eth_utils.crypto import keccak

from portfolio.domain.errors import InvalidAddressError

MAX_NAME_LENGTH = 255  # characters of a normalised name kept or shown (longer: refused)
ROOT = bytes(32)
# What an address field holds when it is a name: text with a dot in it and no space, that is
# not an address (0x + 40 hex digits has no dot; a base58 key neither).
NAME_FORM = re.compile(r"^[^\s]*\.[^\s]+$")


def is_name(text: str) -> bool:
    """Whether the text of an address field is meant as an ENS name."""
    return bool(NAME_FORM.match(text.strip()))


def normalized_name(text: str) -> str:
    """The name as ENSIP-15 normalises it (``VITALIK.eth`` is ``vitalik.eth``); a name it
    refuses, or an empty or over-long one, is an InvalidAddressError saying why."""
    from ens_normalize import DisallowedSequence, ens_normalize  # (0.3 s to load: when used)

    try:
        name = str(ens_normalize(text.strip()))
    except DisallowedSequence as exc:
        raise InvalidAddressError(f"{_shown(text)} is no valid ENS name: {exc}.") from exc
    if not name or "." not in name:
        raise InvalidAddressError(f"{_shown(text)} is no ENS name (such as vitalik.eth).")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidAddressError(f"An ENS name is at most {MAX_NAME_LENGTH} characters here.")
    return name


def is_normalized(name: str) -> bool:
    """Whether a name read from the chain (a reverse record) is as ENSIP-15 normalises it."""
    from ens_normalize import DisallowedSequence, ens_normalize

    try:
        return 0 < len(name) <= MAX_NAME_LENGTH and ens_normalize(name) == name
    except DisallowedSequence:
        return False


def namehash(name: str) -> bytes:
    """ENSIP-1's node of a normalised name: the root's zeros, hashed with each label's hash
    from the right."""
    node = ROOT
    if name:
        for label in reversed(name.split(".")):
            node = keccak(node + keccak(label.encode()))
    return node


def reverse_node(address: str) -> bytes:
    """The node of an EVM address's reverse record, ``<hex without 0x>.addr.reverse``."""
    return namehash(f"{address.lower().removeprefix('0x')}.addr.reverse")


def _shown(text: str) -> str:
    """The input, short and printable, to say in an error."""
    cut = "".join(ch if ch.isprintable() else "?" for ch in text.strip()[:80])
    return repr(cut)
