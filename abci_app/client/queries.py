"""The CLI's query names, mapped once onto chain/query.py's QUERY_ROUTES.

`CLI_QUERIES` is the only place a CLI name meets a route path; the route gives
the arguments (its PathArgs), the request and response types, and whether it
pages (its request has `cursor` and `limit`). `get_path` is how any tool names a
route, so a path that is not in QUERY_ROUTES fails at import, not at run time.
"""

from __future__ import annotations

from google.protobuf.message import Message

from abci_app.chain.query import ADDRESS_BYTES, ROUTES_BY_PATH, QueryRoute
from abci_app.client.rpc import NodeRpc

CLI_QUERIES: dict[str, str] = {
    "params": "params",
    "sequencer": "sequencer",
    "sequencers": "sequencers",
    "validators": "validators",
    "schedule": "schedule",
    "epoch": "epoch",
    "sequencer-at": "sequencer_at",
    "withdrawals": "withdrawals",
    "slashes": "slashes",
    "account": "account",
    "l1-nonce": "l1/last_nonce",
}
MAX_PAGES = 10_000  # a bound on following next_cursor, far above any real list


class BadArgumentError(ValueError):
    """A command-line argument is malformed (the message names it)."""


def get_route(path: str) -> QueryRoute:
    route = ROUTES_BY_PATH.get(path)
    if route is None:
        raise KeyError(f"{path!r} is not in QUERY_ROUTES")
    return route


def get_path(route_path: str, *args: str) -> str:
    """The abci_query path of a route with its argument segments."""
    return "/" + "/".join((get_route(route_path).path, *args))


ROUTES = {name: get_route(path) for name, path in CLI_QUERIES.items()}
STATUS_PATHS = {name: get_path(name) for name in (
    "epoch", "schedule", "validators", "sequencers", "l2/head", "settlement/pending")}


def is_paged(route: QueryRoute) -> bool:
    fields = route.request_type.DESCRIPTOR.fields_by_name
    return "cursor" in fields and "limit" in fields


def compute_address_arg(text: str) -> str:
    """A 0x-prefixed 20-byte hex address, or BadArgumentError in the operator's words."""
    body = text.removeprefix("0x").removeprefix("0X")
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raw = b""
    if len(raw) != ADDRESS_BYTES or len(body) != 2 * ADDRESS_BYTES:
        raise BadArgumentError(f"not a {ADDRESS_BYTES}-byte hex address: {text}")
    return "0x" + raw.hex()


def compute_page_request(route: QueryRoute, limit: int, cursor: bytes) -> bytes:
    request = route.request_type(limit=limit, cursor=cursor)
    return bytes(request.SerializeToString(deterministic=True))


def get_all_pages(rpc: NodeRpc, route: QueryRoute, path: str, limit: int = 0) -> Message:
    """Every page of a paged route, merged into one response (next_cursor empty)."""
    merged = route.response_type()
    cursor = b""
    for _ in range(MAX_PAGES):
        page = rpc.query(path, compute_page_request(route, limit, cursor))
        cursor = bytes(page.next_cursor)  # type: ignore[attr-defined]
        page.ClearField("next_cursor")
        merged.MergeFrom(page)
        if not cursor:
            return merged
    raise BadArgumentError(f"{path}: more than {MAX_PAGES} pages")
