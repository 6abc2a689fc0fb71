"""schemathesis hooks for test_schemathesis.py, loaded in its `schemathesis run` child through
SCHEMATHESIS_HOOKS.

One hook: drop a false positive of schemathesis 4.32's negative_data_rejection check. In
negative mode it may change a multipart text field's type (`angle` becomes `true`, or a
one-element array); on the wire that is the same text as a string, so the form the server
receives is valid and accepting it is right. schemathesis means to recognise this
(`_form_body_is_valid_as_sent`), but it hands the generated `bytes` of the file parts
(`image`, `reference`) to its JSON Schema validator, which raises on bytes; the error is
swallowed and the body counted as invalid. Here the body is checked as the server reads it, and
the failure is kept unless that body satisfies the document's schema. Nothing else is touched.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, cast

import schemathesis
from jsonschema import Draft202012Validator
from schemathesis.core.failures import AcceptedNegativeData, Failure


@schemathesis.hook
def filter_failure(context: Any, failure: Failure, case: Any, response: Any) -> bool:
    """False drops the failure."""
    if not isinstance(failure, AcceptedNegativeData):
        return True
    return not _form_is_valid_as_sent(case, response)


def _form_is_valid_as_sent(case: Any, response: Any) -> bool:
    content_type = str(response.request.headers.get("Content-Type", ""))
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return False
    body = response.request.body
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes):
        return False
    raw = case.operation.definition.raw
    schema = raw["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema = _component(schema, case.operation.schema.raw_schema)
    if "$ref" in str(schema):  # ours refers to one flat component; more is beyond this hook
        return False
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    sent: dict[str, Any] = {}
    for part in cast(list[Message], list(message.iter_parts())):
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in sent:
            return False  # a repeated field is not one string: leave the failure alone
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return False
        if part.get_filename() is not None:
            if schema.get("properties", {}).get(name, {}).get("format") != "binary":
                return False
            sent[name] = ""  # a file part, where `format: binary` takes any bytes
        else:
            try:
                sent[name] = payload.decode()
            except UnicodeDecodeError:
                return False
    return Draft202012Validator(schema).is_valid(sent)


def _component(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """The component a local `$ref` names (the form's TaskCreateForm), else the schema."""
    ref = schema.get("$ref")
    prefix = "#/components/schemas/"
    if not isinstance(ref, str) or not ref.startswith(prefix):
        return schema
    found: dict[str, Any] = document["components"]["schemas"][ref.removeprefix(prefix)]
    return found
