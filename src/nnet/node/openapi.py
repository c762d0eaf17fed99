"""The OpenAPI 3.1 description of the daemon's HTTP API, served at GET /openapi.json.

The one place the API is documented: every route the daemon serves, with its methods, parameters,
answers and their status codes (tests/node/test_openapi_contract.py checks the document against
the routes and sampled answers). Any operation may also answer 403 `bad_host` (a Host this node
does not answer to) and 503 `overloaded` (too many connections); a method a path does not serve
answers 405 with `Allow`; errors are always {"error", "code"}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnet.chain.governance import PROPOSAL_STATUSES
from nnet.chain.market_settle import JOB_STATUSES

__all__ = ["OPENAPI"]

_ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
}
_UNITS = {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "description": "base units"}
_HASH = {"type": "string", "pattern": "^0x[0-9a-f]{64}$"}
_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


_HEADER = {
    "type": "object",
    "properties": {
        "chain": {"type": "string"},
        "height": {"type": "integer"},
        "time_ms": {"type": "integer"},
        "prev_hash": _HASH,
        "tx_root": _HASH,
        "state_root": _HASH,
        "proposer": _ADDRESS,
        "beacon": {
            "type": "string",
            "pattern": "^(0x[0-9a-f]{162}|0x[0-9a-f]{192})?$",
            "description": "the proposer's ECVRF proof (secp256k1, 81 bytes) over the chain, "
            "height and parent beacon; on a network, its BLS signature (96 bytes) over them. "
            "Its output seeds the block's randomness. Empty at genesis",
        },
        "validators_hash": {
            **_HASH,
            "description": "network only: hash of the validator set that signs this block",
        },
        "last_commit": {
            "oneOf": [{"$ref": "#/components/schemas/Certificate"}, {"type": "null"}],
            "description": "network only: the certificate that proves the parent final",
        },
        "sig": {"type": "string", "description": "the sequencer's signature; empty on a network"},
    },
}
_CERTIFICATE = {
    "type": "object",
    "required": ["height", "round", "block_id", "signers", "signature"],
    "properties": {
        "height": {"type": "integer"},
        "round": {"type": "integer"},
        "block_id": _HASH,
        "signers": {"type": "string", "description": "bitmap, bit i: validator i signed"},
        "signature": {"type": "string", "description": "aggregate BLS signature (96 bytes)"},
    },
}
_VALIDATORS = {
    "type": "object",
    "required": ["height", "since", "validators", "total_power", "hash"],
    "properties": {
        "height": {"type": "integer"},
        "since": {"type": "integer", "description": "the height this set took effect"},
        "validators": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "address": _ADDRESS,
                    "bls_key": {"type": "string"},
                    "power": {"type": "integer"},
                    "net": {"type": "string"},
                },
            },
        },
        "total_power": {"type": "integer"},
        "hash": _HASH,
    },
}
_BLOCK = {
    "type": "object",
    "properties": {
        "header": {"$ref": "#/components/schemas/Header"},
        "hash": _HASH,
        "txs": {"type": "array", "items": {"$ref": "#/components/schemas/Tx"}},
    },
}
_TX = {
    "type": "object",
    "required": ["v", "chain", "type", "from", "nonce", "fee", "body", "sig"],
    "properties": {
        "v": {"const": 1},
        "chain": {"type": "string"},
        "type": {"type": "string"},
        "from": _ADDRESS,
        "nonce": {"type": "integer", "minimum": 0},
        "fee": _UNITS,
        "body": {"type": "object"},
        "sig": {"type": "string", "pattern": "^0x[0-9a-f]{130}$"},
    },
}
_RECEIPT = {
    "type": "object",
    "properties": {
        "hash": _HASH,
        "status": {"enum": ["pending", "committed"]},
        "height": {"type": ["integer", "null"]},
        "index": {"type": ["integer", "null"]},
        "type": {"type": "string"},
        "from": _ADDRESS,
        "events": {"type": "array", "items": {"type": "object"}},
        "tx": {"$ref": "#/components/schemas/Tx"},
    },
}
_ACCOUNT = {
    "type": "object",
    "properties": {
        "address": _ADDRESS,
        "balance": _UNITS,
        "nonce": {"type": "integer", "description": "next nonce per committed state"},
        "next_nonce": {"type": "integer", "description": "next nonce counting pending txs"},
        "stake": {
            "type": "object",
            "properties": {
                "bonded": _UNITS,
                "unbonding": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"amount": _UNITS, "release_epoch": {"type": "integer"}},
                    },
                },
            },
        },
        "pending_rewards": _UNITS,
    },
}
_STATUS = {
    "type": "object",
    "required": ["chain", "height", "head_hash", "sync", "mempool", "sequencer"],
    "properties": {
        "chain": {"type": "string"},
        "height": {"type": "integer"},
        "head_hash": _HASH,
        "epoch": {"type": "integer"},
        "epoch_blocks": {"type": "integer"},
        "peers": {"type": "array", "items": {"type": "string"}},
        "sync": {"enum": ["sequencer", "replica", "validator"]},
        "mempool": {"type": "integer"},
        "sequencer": _ADDRESS,
        "genesis_hash": _HASH,
        "sync_error": {"type": ["string", "null"], "description": "why a replica stopped"},
        "evidence": {"type": "integer", "description": "equivocation evidence held"},
        "validators": {
            "type": "array",
            "description": "network only: the set signing the next block",
            "items": {
                "type": "object",
                "properties": {"address": _ADDRESS, "power": {"type": "integer"}},
            },
        },
        "total_power": {"type": "integer"},
        "last_commit": {
            "type": ["object", "null"],
            "description": "network only: the head's certificate: height, round, signed_power, "
            "total_power",
        },
        "consensus": {
            "type": "object",
            "description": "network only: height, round, step, and whether this node votes",
        },
    },
}
_RESULTS = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"hash": _HASH, "status": {"const": "pending"}},
                    },
                    {"$ref": "#/components/schemas/Error"},
                ]
            },
        }
    },
}


_NEXT = {
    "type": ["string", "null"],
    "description": "cursor of the next page (pass it as ?after=); null on the last page",
}


def _page(items: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [items, "next"],
        "properties": {items: {"type": "array", "items": item}, "next": _NEXT},
    }


_LIMIT = {
    "name": "limit",
    "in": "query",
    "description": "page size; over the maximum, zero or not a number is a 400 `malformed`",
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
}
_AFTER = {
    "name": "after",
    "in": "query",
    "description": "the `next` of the previous page",
    "schema": {"type": "string"},
}
_HEALTH = {
    "type": "object",
    "required": ["status", "height", "role", "head_age_s", "stale_after_s", "mempool"],
    "properties": {
        "status": {
            "enum": ["ok", "halted", "stale"],
            "description": "halted: a replica stopped at a block that does not verify; "
            "stale: the head is older than stale_after_s",
        },
        "height": {"type": "integer"},
        "role": {"enum": ["sequencer", "replica"]},
        "head_age_s": {"type": "number"},
        "stale_after_s": {"type": "number"},
        "mempool": {"type": "integer"},
        "sync_error": {"type": ["string", "null"]},
        "last_error": {
            "type": ["string", "null"],
            "description": "why block production is failing (e.g. disk full), if it is",
        },
    },
}
_EVENTS = {
    "type": "object",
    "required": ["events", "next", "head"],
    "properties": {
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["height", "index", "tx", "type"],
                "properties": {
                    "height": {"type": "integer"},
                    "index": {"type": "integer", "description": "the transaction's place"},
                    "tx": _HASH,
                    "type": {"type": "string", "description": "e.g. job.claimed"},
                },
            },
        },
        "next": {"type": "string", "description": "where to go on (as ?after=)"},
        "head": {"type": "integer"},
    },
}
_OBJ = {"type": "object"}
_BLOB = {
    "type": "object",
    "required": ["cid", "size"],
    "properties": {"cid": {"type": "string"}, "size": {"type": "integer"}},
}
_BAD = "malformed parameter"


def _by_status(summary: str, items: str, statuses: Sequence[str]) -> dict[str, Any]:
    """A numbered listing, newest first, filtered by ?status= (node/paging.py newest_first)."""
    status = {"name": "status", "in": "query", "schema": {"enum": list(statuses)}}
    return _get(
        summary,
        _json(_page(items, _OBJ), items),
        params=[status, _LIMIT, _AFTER],
        errors={"400": _BAD},
    )


def _path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _get(
    summary: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok}}
    if params:
        op["parameters"] = params
    for status, text in (errors or {}).items():
        op["responses"][status] = _err(text)
    return {"get": op}


_ONE = {"400": "malformed id", "404": "not found"}
NETWORK_ONLY = "x-nnet-network-only"


def _network_only(path_item: dict[str, Any]) -> dict[str, Any]:
    """A path served only by a node of a network of validators (docs/network.md)."""
    return {**path_item, NETWORK_ONLY: True}


_PEER_HEADER = {
    "name": "x-nnet-peer",
    "in": "header",
    "schema": {"type": "string", "maxLength": 300},
    "description": "the sending node's name (logs and fault rules; not authentication)",
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "nnet daemon", "version": "1", "description": "Neuronet chain node API"},
    "paths": {
        "/status": _get(
            "Chain id, height, head, epoch, peers, sync state", _json(_STATUS, "node status")
        ),
        "/health": {
            "get": {
                "summary": "Whether the node serves and its head keeps moving (for probes)",
                "responses": {
                    "200": _json(_HEALTH, "ok"),
                    "503": _json(_HEALTH, "halted or stale"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (docs/operations.md lists them)",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/txs": {
            "post": {
                "summary": "Submit one transaction (JSON) or many (NDJSON)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _TX},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "202": _json(_RESULTS, "per-transaction hash or refusal, in order"),
                    "400": _err("malformed body, or the single transaction was refused"),
                    "413": _err("body too large"),
                    "503": _err("not the sequencer and no peer to forward to, or no peer answered"),
                },
            }
        },
        "/txs/{hash}": _get(
            "Receipt of a transaction",
            _json(_RECEIPT, "receipt"),
            params=[_path_param("hash", _HASH)],
            errors={"400": "malformed hash", "404": "unknown tx"},
        ),
        "/blocks": _get(
            "Consecutive blocks, for sync (a page is also bounded in bytes: at least one block)",
            _json(_page("blocks", _BLOCK), "blocks"),
            params=[
                {
                    "name": "from",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 1},
                },
                _LIMIT,
                _AFTER,
            ],
            errors={"400": _BAD},
        ),
        "/blocks/{height}": _get(
            "Header and transactions of one block",
            _json(_BLOCK, "block"),
            params=[_path_param("height", {"type": "integer", "minimum": 0})],
            errors={"400": "malformed height", "404": "no such block"},
        ),
        "/events": _get(
            "The chain's receipt events from a height on, as a resumable long-poll feed "
            "(node/events_api.py); `next` is never null: from the height after the head, "
            "`wait` seconds are waited for the next block",
            _json(_EVENTS, "events"),
            params=[
                {
                    "name": "from",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 1},
                },
                _LIMIT,
                _AFTER,
                {
                    "name": "wait",
                    "in": "query",
                    "description": "seconds to wait for the next block when caught up",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 30, "default": 0},
                },
            ],
            errors={"400": _BAD},
        ),
        "/accounts/{address}": _get(
            "Balance, nonce, stake and pending rewards of an address",
            _json(_ACCOUNT, "account"),
            params=[_path_param("address", _ADDRESS)],
            errors={"400": "bad address"},
        ),
        "/params": _get(
            "Governance parameters with their bounds",
            _json(
                {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"value": {}, "min": {}, "max": {}},
                    },
                },
                "name -> {value, min, max}",
            ),
        ),
        "/supply": _get(
            "Where every unit of the supply is (conservation audit)",
            _json({"type": "object", "properties": {"height": {"type": "integer"}}}, "audit"),
        ),
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json(_OBJ, "OpenAPI 3.1")},
            }
        },
        "/proposals": _by_status(
            "Governance proposals, newest first, with live tallies", "proposals", PROPOSAL_STATUSES
        ),
        "/proposals/{id}": _get(
            "A proposal with its live tally",
            _json(_OBJ, "proposal"),
            params=[_path_param("id")],
            errors=_ONE,
        ),
        "/jobs": _by_status("Training jobs, newest first", "jobs", JOB_STATUSES),
        "/jobs/{id}": _get(
            "A job with its proof, challenge, openings, settlement",
            _json(_OBJ, "job"),
            params=[_path_param("id")],
            errors=_ONE,
        ),
        "/proofs/{id}": _get(
            "The proof document of a job",
            _json(_OBJ, "proof"),
            params=[_path_param("id")],
            errors=_ONE,
        ),
        "/nodes": _get(
            "Registered compute nodes, by address",
            _json(_page("nodes", _OBJ), "nodes"),
            params=[_LIMIT, _AFTER],
            errors={"400": _BAD},
        ),
        "/nodes/{address}": _get(
            "One compute node: collateral, reputation, work",
            _json(_OBJ, "node"),
            params=[_path_param("address")],
            errors={"400": "bad address", "404": "not a registered node"},
        ),
        "/blobs": {
            **_get(
                "Blobs held by the content store, by CID",
                _json(_page("blobs", _BLOB), "blobs"),
                params=[_LIMIT, _AFTER],
                errors={"400": _BAD},
            ),
            "put": {
                "summary": "Upload a blob (streamed), under a signed permit from a funded account",
                "parameters": [
                    {
                        "name": "x-nnet-permit",
                        "in": "header",
                        "required": True,
                        "description": "the signed upload permit (uploader, CID, size, chain, "
                        "expiry); `nnet store put` makes it",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "cid",
                        "in": "query",
                        "description": "must equal the permit's CID",
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/octet-stream": {"schema": {}}},
                },
                "responses": {
                    "201": _json(_BLOB, "stored"),
                    "400": _err("malformed permit or cid, or bytes that do not match the CID"),
                    "401": _err("no permit, or a permit whose signature does not check out"),
                    "403": _err("permit expired, for another chain, unfunded, or mismatched"),
                    "413": _err("over the per-blob limit or the permit's size"),
                    "507": _err("the store's quota or the node's disk is full"),
                },
            },
        },
        "/validators": _network_only(
            _get(
                "The validator set that signs a height (a network)",
                _json(_VALIDATORS, "the set, its total power and its hash (validators_hash)"),
                params=[
                    {
                        "name": "height",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "default: the next block",
                    }
                ],
                errors={"400": "malformed height", "404": "no set for that height, or no network"},
            )
        ),
        "/p2p/consensus": _network_only(
            {
                "post": {
                    "summary": "Gossip: a JSON array of at most 1,000 signed proposals and votes",
                    "parameters": [_PEER_HEADER],
                    "responses": {
                        "202": _json({"type": "object"}, "taken (each message checked on its own)"),
                        "400": _err("not a JSON array of objects, or too many"),
                        "413": _err("body over 16 MiB"),
                        "503": _err("dropped by a fault rule (tests)"),
                    },
                }
            }
        ),
        "/p2p/txs": _network_only(
            {
                "post": {
                    "summary": "Gossip: NDJSON transactions, admitted without gossiping them again",
                    "parameters": [_PEER_HEADER],
                    "responses": {
                        "202": _json(_RESULTS, "per-transaction hash or refusal"),
                        "413": _err("body over 16 MiB"),
                        "503": _err("dropped by a fault rule (tests)"),
                    },
                }
            }
        ),
        "/p2p/commit/{height}": _network_only(
            _get(
                "The certificate this node finalized a block with",
                _json({"$ref": "#/components/schemas/Certificate"}, "the certificate"),
                params=[_path_param("height", {"type": "integer"})],
                errors=_ONE,
            )
        ),
        "/blobs/{cid}": {
            "get": {
                "summary": "Download a blob (CIDv1 raw sha2-256), whole or one byte range",
                "parameters": [
                    _path_param("cid"),
                    {
                        "name": "range",
                        "in": "header",
                        "description": "one range: bytes=START-, bytes=START-END or bytes=-LAST "
                        "(any other Range is ignored: 200)",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the bytes",
                        "content": {"application/octet-stream": {}},
                    },
                    "206": {
                        "description": "the range's bytes (Content-Range says which)",
                        "content": {"application/octet-stream": {}},
                    },
                    "400": _err("malformed CID, or a blob whose bytes fail its CID"),
                    "404": _err("no such blob"),
                    "416": _err("the range starts past the end (Content-Range: bytes */SIZE)"),
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Error": _ERROR,
            "Header": _HEADER,
            "Tx": _TX,
            "Block": _BLOCK,
            "Receipt": _RECEIPT,
            "Certificate": _CERTIFICATE,
        }
    },
}
