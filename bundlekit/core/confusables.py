"""The confusable skeleton of Unicode Technical Standard #39: when two texts read the same.

Latin ``A``, Cyrillic ``А`` (U+0410) and Greek ``Α`` (U+0391) are different characters that no
reader can tell apart; ``Paymеnts`` with a Cyrillic ``е`` reads ``Payments``. UTS #39 section 4
maps a text to its *skeleton*: NFD, each code point replaced by its prototype from Unicode's
``confusables.txt``, NFD again; two texts are confusable when their skeletons are equal. Names
people pick by reading them (the spaces of a zone: review relayatk #2) are compared this way.

The mappings ship inside the package (``confusables.txt`` beside this module, made from
Unicode's file by ``scripts/gen_confusables.py``) and are read once, on first use; nothing is
ever downloaded (decision 943).

UTS #39 leaves small capital letters alone (``ᴘᴀʏᴍᴇɴᴛꜱ`` keeps its own skeleton), yet a reader
takes them for another case of the same letters; :func:`small_capitals_folded` maps each to the
small letter of the same name first (``smallcapitals.txt``, made from Unicode's character names
by the same script; decision 960).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, Optional

__all__ = ["skeleton", "confusable", "data_version", "invisible", "small_capitals_folded"]

_TABLE = Path(__file__).with_name("confusables.txt")
_SMALL_CAPITALS = Path(__file__).with_name("smallcapitals.txt")
_MAP: Optional[Dict[str, str]] = None
_FOLD: Optional[Dict[int, str]] = None
_VERSION = ""


#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters that
#: render as nothing, so two names differing by one read the same.
_IGNORABLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
              (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
              (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))


def _ignorable(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE)


def invisible(ch: str) -> bool:
    """Whether ``ch`` may render as nothing: a Default_Ignorable_Code_Point or any other format
    character (category Cf), as a name people type must not hold one (``Pay\u200bments`` reads
    ``Payments``)."""
    return unicodedata.category(ch) == "Cf" or _ignorable(ch)


def _load() -> Dict[str, str]:
    global _MAP, _VERSION
    if _MAP is None:
        mapping: Dict[str, str] = {}
        text = _TABLE.read_text("utf-8")
        found = re.search(r"^# Source: confusables\.txt, Version: (\S+),", text, re.M)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                source, target = line.split(";")
                mapping[chr(int(source, 16))] = "".join(chr(int(c, 16)) for c in target.split())
        _VERSION = found.group(1) if found else "unknown"
        _MAP = mapping
    return _MAP


def skeleton(text: str) -> str:
    """UTS #39 ``skeleton(text)``: ``NFD``, Default_Ignorable_Code_Points dropped, every code point mapped to its confusable prototype, ``NFD`` again.
    Case is kept (``A`` and ``a`` have different skeletons): fold it first to compare without
    case."""
    mapping = _load()
    return unicodedata.normalize("NFD", "".join(mapping.get(ch, ch) for ch in unicodedata.normalize("NFD", text)
                                                if not _ignorable(ch)))


def _small_capitals() -> Dict[int, str]:
    global _FOLD
    if _FOLD is None:
        fold: Dict[int, str] = {}
        for line in _SMALL_CAPITALS.read_text("utf-8").splitlines():
            if line and not line.startswith("#"):
                source, target = line.split("#", 1)[0].strip().split(";")
                fold[int(source, 16)] = chr(int(target, 16))
        _FOLD = fold
    return _FOLD


def small_capitals_folded(text: str) -> str:
    """``text`` with every small capital letter replaced by the small letter of the same name
    (``ᴘᴀʏᴍᴇɴᴛꜱ`` -> ``payments``, U+A7AE -> ``i``), as a reader takes it for another case of that
    letter; small capitals with no plain letter of their name (``ᴙ`` REVERSED R) are kept. Apply
    it before :func:`skeleton` and before folding case."""
    return text.translate(_small_capitals())


def confusable(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` read the same by UTS #39 (equal skeletons)."""
    return skeleton(a) == skeleton(b)


def data_version() -> str:
    """The Unicode version of the shipped mappings (``15.1.0``)."""
    _load()
    return _VERSION
