"""XML from a package declares entities inside its document type in ways a text search misses.

The entity guard reads the document type as XML (expat), so a ``]>`` inside a quoted default,
an entity value, a comment or a processing instruction of the internal subset cannot end the
search early; before, an entity declared after such a ``]>`` was expanded by one parser and
not the other, and the edits landed at shifted offsets (silently broken XML)."""

from __future__ import annotations

import pytest
from lxml import etree

from bundlekit.runtime.structured import ConfigParseError
from bundlekit.runtime.structured.xmlfile import apply_xml

PI_EDIT = {"/c/processing-instruction('target')": "new", "/c/v": "2"}


@pytest.mark.parametrize("subset, line", [
    ('<!ATTLIST c x CDATA "]>">\n<!ENTITY e "<?pi zzzzzzzzzzzzzzzzzzzzzzz?>">', 3),
    ("<!ATTLIST c x CDATA ']>'>\n<!ENTITY e 'abcdefghijklmnopqrstuvwxyz'>", 3),
    ('<!ENTITY e "]><?pi x?>">', 2),
    ("<!-- ]> -->\n<!ENTITY e 'abcdefghijklmnopqrstuvwxyz'>", 3),
    ("<?note ]> ?>\n<!ENTITY e 'abcdefghijklmnopqrstuvwxyz'>", 3),
    ('<!ATTLIST c x CDATA "]>">\n<!ENTITY % p "<!ENTITY e \'x\'>">\n%p;', 3),
    ('<!ATTLIST c x CDATA "]>">\n<!ENTITY e SYSTEM "file:///etc/hostname">', 3),
    ('<!ATTLIST c x CDATA "]>">\n<!ENTITY e SYSTEM "x.gif" NDATA gif>', 3),
])
def test_an_entity_declared_after_a_quoted_bracket_in_the_internal_subset_is_refused(subset: str,
                                                                                      line: int) -> None:
    document = f'<!DOCTYPE c [\n{subset}\n]>\n<c>&e;<?target old?><v>1</v></c>'
    with pytest.raises(ConfigParseError, match="declares entities") as caught:
        apply_xml(document, PI_EDIT)
    assert caught.value.line == line and caught.value.column == 1


@pytest.mark.parametrize("subset", [
    '<!ATTLIST c x CDATA "]>">',
    "<!-- <!ENTITY e 'not a declaration'> ]> -->",
    "<?note <!ENTITY e 'x'> ]> ?>",
    "<!ELEMENT c ANY>",
])
def test_a_document_type_without_entities_keeps_every_edit_in_its_place(subset: str) -> None:
    head = f'<?xml version="1.0"?>\n<!DOCTYPE c [\n{subset}\n]>\n'
    edit = apply_xml(head + "<c><?target old?><v>1</v></c>", PI_EDIT)
    assert edit.text == head + "<c><?target new?><v>2</v></c>"
    etree.fromstring(edit.text.split("\n", 1)[1].encode())  # still XML
