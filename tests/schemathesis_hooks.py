"""Schemathesis hooks for tests/test_fuzz.py (loaded with SCHEMATHESIS_HOOKS=tests.schemathesis_hooks).

The schema says an upload is ``{"filename": str, "text": str}``; a random string is almost never a
``.txt`` name with text left after cleaning, so without help the fuzzer would only ever see 400s.
Every other JSON upload is turned into one that can succeed: a fresh ``.txt`` name and a news
sentence around the generated text (lone surrogates and NULs taken out: those are rightly 400s, and
the other half of the examples still sends them).  The test counts the uploads that succeeded.
"""

import itertools

import schemathesis

_counter = itertools.count()


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.method.upper() != "POST" or operation.path != "/api/documents":
        return body
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not isinstance(body.get("filename"), str):
        return body  # a negative example (a field missing or of the wrong type) stays one
    if len(body["filename"]) > 255:
        return body  # so does one over the schema's maxLength
    n = next(_counter)
    if n % 2:
        return body
    generated = "".join(ch for ch in body["text"] if ch != "\x00" and not 0xD800 <= ord(ch) <= 0xDFFF)[:2000]
    text = f"第{n}号测试街道召开推进会 近日，第{n}号测试街道召开推进会，部署全年工作。{generated}（第{n}号测试街道）"
    return {**body, "filename": f"fuzz-{n}.txt", "text": text}


_deletes = itertools.count()


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    """Every other DELETE (and GET) names a document an earlier example uploaded, so deletions run too."""
    operation = context.operation
    if operation is None or operation.path != "/api/documents/{doc_id}" or not isinstance(path_parameters, dict):
        return path_parameters
    n = next(_deletes)
    if n % 2:
        return path_parameters
    return {**path_parameters, "doc_id": f"fuzz-{2 * (n // 4)}.txt"}
