"""A gzip response built from pieces compressed once and kept, not the whole page each time.

The catalog is 280 KB of HTML, the same for everyone but a few cards, and compressing it whole
on every page would cost more CPU than rendering it does. Raw deflate streams that each end on a
sync flush (byte-aligned, no final block) can be laid end to end into one stream: so the cards
are compressed once per snapshot, in chunks, and a page compresses only what is its own.

Secrets stay out of every compression context (BREACH): the page's form token and request key
are in its head, which goes as *stored* blocks (copied, not compressed), so no byte an attacker
can put in the page (a search word is shown back in it) shares a window with them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

# One member's header: deflate, no name, no time (mtime 0), no extra flags, OS unknown.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty final block (fixed Huffman, end of block at once): what ends the stream.
_LAST_BLOCK = b"\x03\x00"
LEVEL = 6  # for what is kept: made once, sent many times
PAGE_LEVEL = 1  # for what one page alone sends: a third of the time for a few % more bytes

Segment = tuple[bytes, bytes | None]  # the text, and its raw deflate if already made


def deflated(text: bytes, level: int = LEVEL) -> bytes:
    """``text`` as raw deflate blocks ending on a sync flush: a stream's middle, any order."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(text) + packer.flush(zlib.Z_SYNC_FLUSH)


def stored(text: bytes) -> bytes:
    """``text`` as stored (uncompressed) deflate blocks: for what must not be compressed."""
    return deflated(text, level=0)


def gzip_member(segments: Iterable[Segment]) -> bytes:
    """One gzip member of the segments' texts, in order, each piece's deflate made if missing."""
    parts = [_HEADER]
    crc = size = 0
    for text, packed in segments:
        parts.append(deflated(text, PAGE_LEVEL) if packed is None else packed)
        crc = zlib.crc32(text, crc)
        size += len(text)
    parts += [_LAST_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return b"".join(parts)
