"""Parsing an IR's ``.xml`` as untrusted input: no DTDs or entities, bounded sizes, linear time."""

import os
import xml.etree.ElementTree as ET
from xml.parsers import expat

from ..errors import IRError
from ..limits import MAX_XML_BYTES, MAX_XML_TOKEN_BYTES

#: Bytes handed to expat per call (pyexpat splits larger pieces into calls of this size anyway).
CHUNK_BYTES = 1 << 20


def parse_xml(path):
    """The root :class:`~xml.etree.ElementTree.Element` of the XML file at ``path``; IRError if it is malformed
    (see :func:`parse_xml_bytes`) or larger than ``MAX_XML_BYTES`` (:mod:`ie_core.limits`)."""
    size = os.path.getsize(path)
    if size > MAX_XML_BYTES:
        raise IRError(f"{path}: the file has {size} bytes, more than the limit of {MAX_XML_BYTES} bytes "
                      "(raise it with IE_CORE_MAX_XML_BYTES)")
    with open(path, "rb") as f:
        return parse_xml_bytes(f.read(), path)


def parse_xml_bytes(data, source):
    """The root element of the XML document ``data``; IRError naming ``source`` if it is malformed.

    A document type declaration is refused (IR files have none), so no entity is
    ever declared or expanded. Expat scans a token that is not complete at the
    end of the bytes it was given again with the next bytes, so parsing is
    quadratic in a token's length: the document is given in pieces of
    :data:`CHUNK_BYTES`, and parsing stops once an unfinished token is longer
    than ``MAX_XML_TOKEN_BYTES`` (:mod:`ie_core.limits`).
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True

    def doctype(name, *_):
        raise IRError(f"{source}: line {parser.CurrentLineNumber}: a document type declaration (<!DOCTYPE {name}>); "
                      "IR files have none and ie_core reads no DTDs or entities")

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        for start in range(0, len(data), CHUNK_BYTES):
            end = start + CHUNK_BYTES
            parser.Parse(data[start:end], False)
            token_start = max(parser.CurrentByteIndex, 0)
            if min(end, len(data)) - token_start > MAX_XML_TOKEN_BYTES:
                raise IRError(f"{source}: line {parser.CurrentLineNumber}: a token (tag, comment, ...) longer than "
                              f"the limit of {MAX_XML_TOKEN_BYTES} bytes (raise it with IE_CORE_MAX_XML_TOKEN_BYTES)")
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise IRError(f"{source}: malformed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # the XML declaration names an encoding expat cannot be given
        raise IRError(f"{source}: the XML declaration's encoding cannot be read: {exc}") from None
    return builder.close()
