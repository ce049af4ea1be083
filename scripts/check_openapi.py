"""Checks an OpenAPI document the way the Rust tests cannot offline: the full OpenAPI 3.1
validator, and every example in it against its schema with `pattern` and `format` enforced.

Usage: python3 scripts/check_openapi.py openapi.json
"""

import json
import sys

from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate


def examples(doc):
    """(where, schema, example) for every request-body, parameter and schema example."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                for name, example in media.get("examples", {}).items():
                    yield f"{where} example {name}", media["schema"], example["value"]
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    name = parameter["$ref"].rsplit("/", 1)[-1]
                    parameter = doc["components"]["parameters"][name]
                if "example" in parameter:
                    yield f"{where} parameter {parameter['name']}", parameter["schema"], parameter[
                        "example"
                    ]

    def walk(node, where):
        if isinstance(node, dict):
            for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
                schema = {k: v for k, v in node.items() if k != "examples"}
                yield where, schema, example
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}/{i}")

    yield from walk(doc["components"]["schemas"], "#/components/schemas")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    validate(doc)
    failures = 0
    checked = 0
    for where, schema, example in examples(doc):
        # Local $refs resolve against a root that carries the document's components.
        root = dict(schema, components=doc["components"])
        validator = Draft202012Validator(root, format_checker=FormatChecker())
        for error in validator.iter_errors(example):
            failures += 1
            print(f"{where}: {error.json_path}: {error.message}", file=sys.stderr)
        checked += 1
    if failures:
        sys.exit(f"{failures} example error(s)")
    print(f"openapi: valid OpenAPI {doc['openapi']}; {checked} examples match their schemas")


if __name__ == "__main__":
    main()
