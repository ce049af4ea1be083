#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/ from the request examples of the API spec.

    python3 fuzz/gen_seeds.py [path/to/api-sync.md]   # default ../shared/spec/api-sync.md

sync_body seeds are one selector byte (the index into eryxon::http::fuzz::ENDPOINTS: entity x
single/bulk) followed by a JSON body. Every request example of the spec becomes a seed for its
endpoint; an entity whose bulk endpoint has no example gets its single example wrapped in
{"<entities>": [...]}. A few bodies below add the fields the spec's examples leave out.
key_header seeds are Authorization header values.
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent
ENTITIES = ["jobs", "parts", "operations", "cells", "resources"]

# Fields and forms the spec's examples do not show (see README "Fields").
EXTRA = {
    ("jobs", False): [{
        "external_id": "J-1", "external_source": "ERP", "job_number": "1", "status": "on_hold",
        "due_date": "2024-02-29", "priority": 0, "metadata": {"b": [1, 2.5], "a": None},
        "children": "replace", "notes": None,
        "parts": [{"external_id": "P-1", "external_source": "ERP", "job_external_id": "J-1",
                   "part_number": "p", "quantity": 1, "status": "completed",
                   "operations": [{"external_id": "O-1", "operation_name": "o",
                                   "cell_id": "0190f0a4-7b8e-7c3d-9e21-4b5a6c7d8e9f",
                                   "estimated_time": 0, "part_external_id": "P-1"}]}],
    }],
    ("parts", False): [{"external_id": "P-2", "external_source": "ERP",
                        "job_id": "0190f0a4-7b8e-7c3d-9e21-4b5a6c7d8e9f", "part_number": "p",
                        "metadata": {}}],
    ("operations", False): [{"external_id": "O-2", "external_source": "ERP",
                             "part_id": "0190f0a4-7b8e-7c3d-9e21-4b5a6c7d8e9f",
                             "operation_name": "o", "cell_name": "Cutting", "status": "in_progress"}],
    ("cells", True): [{"items": [{"external_id": "C-1", "external_source": "ERP", "name": "c",
                                  "capacity_hours_per_day": 7.5, "wip_limit": 3, "active": False},
                                 {"external_id": "C-1", "external_source": "ERP", "name": "again"}]}],
    ("resources", False): [{"external_id": "R-1", "external_source": "ERP", "name": "r",
                            "type": "mold", "status": "in_use", "identifier": None}],
}

KEY_HEADERS = [
    "Bearer ery_live_your_api_key_here",  # the spec's example (malformed: too short)
    "Bearer ery_live_" + "a1B2c3D4e5F6" + "g7H8i9J0" * 3 + "k1L2m3N4",
    "bearer  ery_test_" + "0123456789" * 4 + " ",
    "Basic ZXJ5OmtleQ==",
]


def spec_examples(spec):
    """(entity, bulk) -> request bodies, from the ```json blocks before each **Response."""
    examples = {}
    entity, bulk, in_block, block, responses = None, False, False, [], False
    for line in spec.splitlines():
        heading = re.match(r"^##+ (.*)$", line)
        if heading and not in_block:
            title = heading.group(1).lower()
            for name in ENTITIES:
                if title.startswith(name) or title.startswith(name[:-1]):
                    entity = name
            if title.startswith("single") or title.startswith("bulk"):
                bulk, responses = title.startswith("bulk"), False
            if heading.group(0).startswith("## ") and not any(
                title.startswith(n[:-1]) for n in ENTITIES
            ):
                entity = None
        elif line.startswith("**Response"):
            responses = True
        elif line.strip() == "```json":
            in_block, block = True, []
        elif line.strip() == "```" and in_block:
            in_block = False
            if entity and not responses:
                examples.setdefault((entity, bulk), []).append(json.loads("\n".join(block)))
        elif in_block:
            block.append(line)
    return examples


def main():
    spec_path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "../../shared/spec/api-sync.md")
    examples = spec_examples(spec_path.read_text())
    for entity in ENTITIES:
        if (entity, True) not in examples:
            examples[(entity, True)] = [{entity: examples[(entity, False)]}]
    out = ROOT / "seeds" / "sync_body"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    count = 0
    for source, table in (("spec", examples), ("extra", EXTRA)):
        for (entity, bulk), bodies in sorted(table.items()):
            selector = ENTITIES.index(entity) * 2 + int(bulk)
            for n, body in enumerate(bodies):
                name = f"{source}-{entity}-{'bulk' if bulk else 'single'}-{n}.json"
                text = json.dumps(body, indent=2, ensure_ascii=False).encode()
                (out / name).write_bytes(bytes([selector]) + text)
                count += 1
    keys = ROOT / "seeds" / "key_header"
    keys.mkdir(parents=True, exist_ok=True)
    for n, value in enumerate(KEY_HEADERS):
        (keys / f"header-{n}").write_bytes(value.encode())
    print(f"{count} sync_body seeds, {len(KEY_HEADERS)} key_header seeds")


if __name__ == "__main__":
    main()
