"""Google's Python api-core, unchanged, against an lro server.

Usage: apicore.py grpc|rest

The server and its operations come from the environment (see
interop/server_test.go). Over gRPC the client is
google.api_core.operations_v1.OperationsClient on an insecure channel; over
REST it is AbstractOperationsClient with its OperationsRestTransport. Both
wait with google.api_core.operation.from_gapic(...).result(). Prints
"ok <check>" for each check that passed and exits non-zero at the first that
fails.
"""

import importlib.util  # noqa: F401 (Google Cloud CLI's bundled concurrent package needs it loaded)
import os
import sys

import grpc
from google.api_core import exceptions, operation, operations_v1
from google.auth.credentials import AnonymousCredentials

try:  # api-core as installed from PyPI
    from google.protobuf import duration_pb2
except ImportError:  # api-core as Google Cloud CLI bundles it
    from cloudsdk.google.protobuf import duration_pb2

ENV = os.environ
DONE, FAILED = ENV["LRO_OP_DONE"], ENV["LRO_OP_FAILED"]
SLOW, BLOCK = ENV["LRO_OP_SLOW"], ENV["LRO_OP_BLOCK"]
MISSING, DOMAIN = ENV["LRO_OP_MISSING"], ENV["LRO_ERROR_DOMAIN"]
PARENT, LIST_NAME = ENV["LRO_PARENT"], ENV["LRO_LIST_NAME"]
ALL = {DONE, FAILED, SLOW, BLOCK}


# The REST routes of top-level operation names, those of operations.proto.
# api-core's defaults are for names under a parent; a generated client
# passes its service's routes in http_options the same way.
TOP_LEVEL_ROUTES = {
    "google.longrunning.Operations.ListOperations": [{"method": "get", "uri": "/v1/{name=operations}"}],
    "google.longrunning.Operations.GetOperation": [{"method": "get", "uri": "/v1/{name=operations/**}"}],
    "google.longrunning.Operations.DeleteOperation": [{"method": "delete", "uri": "/v1/{name=operations/**}"}],
    "google.longrunning.Operations.CancelOperation": [
        {"method": "post", "uri": "/v1/{name=operations/**}:cancel", "body": "*"}
    ],
}


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def duration(any_msg):
    d = duration_pb2.Duration()
    any_msg.Unpack(d)
    return d.seconds


def client_for(transport):
    if transport == "grpc":
        channel = grpc.insecure_channel(ENV["LRO_GRPC_ADDR"])
        return operations_v1.OperationsClient(channel)
    if transport == "rest":
        rest = operations_v1.OperationsRestTransport(
            host=ENV["LRO_HTTP_URL"],
            credentials=AnonymousCredentials(),
            http_options=None if PARENT else TOP_LEVEL_ROUTES,
        )
        return operations_v1.AbstractOperationsClient(transport=rest)
    sys.exit(f"unknown transport {transport!r}")


def list_names(client, transport, filter_):
    """Every operation the list yields, and the number of pages."""
    if transport == "grpc":
        # The gRPC OperationsClient takes no page size.
        pages = list(client.list_operations(LIST_NAME, filter_).pages)
    else:
        pages = list(client.list_operations(LIST_NAME, filter_, page_size=2).pages)
    # The REST pager's pages are ListOperationsResponses; gRPC's are Pages.
    names = [op.name for page in pages for op in getattr(page, "operations", page)]
    return names, len(pages)


def error_info(exc):
    """The ErrorInfo api-core read from the error, as (reason, domain, metadata)."""
    try:
        return exc.reason, exc.domain, dict(exc.metadata or {})
    except AttributeError:
        # api-core's REST errors keep the ErrorInfo as the JSON dict of the
        # error's details, which exc.reason (written for the proto) cannot
        # read in some versions (2.24 here); the same dict is in exc.details.
        for d in exc.details:
            if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo":
                return d.get("reason"), d.get("domain"), dict(d.get("metadata", {}))
        return None, None, {}


def main(transport):
    client = client_for(transport)

    op = client.get_operation(DONE)
    check("get-done", op.done and duration(op.response) == 42, op)

    op = client.get_operation(FAILED)
    check(
        "get-failed",
        op.done and op.error.code == 9 and op.error.message == ENV["LRO_FAILED_MESSAGE"],
        op,
    )

    names, pages = list_names(client, transport, "")
    want_pages = 1 if transport == "grpc" else 2
    check("list-pages", sorted(names) == sorted(ALL) and pages >= want_pages, (names, pages))
    names, _ = list_names(client, transport, "done = true")
    check("list-filter", sorted(names) == sorted([DONE, FAILED]), names)

    first = client.get_operation(SLOW)
    check("wait-saw-running", not first.done, first)
    future = operation.from_gapic(
        first, client, duration_pb2.Duration, metadata_type=duration_pb2.Duration
    )
    result = future.result(timeout=60)
    check("wait", result.seconds == 42 and future.metadata.seconds == 1, result)

    blocked = operation.from_gapic(
        client.get_operation(BLOCK), client, duration_pb2.Duration
    )
    blocked.cancel()
    try:
        blocked.result(timeout=60)
        check("cancel", False, "result() returned after cancel")
    except exceptions.GoogleAPICallError as exc:
        check("cancel", exc.grpc_status_code == grpc.StatusCode.CANCELLED, repr(exc))
    check("cancel-cancelled", blocked.cancelled(), blocked)

    try:
        client.get_operation(MISSING)
        check("not-found", False, "no error")
    except exceptions.NotFound as exc:
        check("not-found", True)
        reason, domain, metadata = error_info(exc)
        if transport == "grpc" and reason is None:
            # api-core reads status details over gRPC only with the
            # grpcio-status package; the trailer is checked instead.
            trailers = dict(exc.response.trailing_metadata() or ())
            check("error-reason", "grpc-status-details-bin" in trailers, trailers)
        else:
            check(
                "error-reason",
                reason == "OPERATION_NOT_FOUND"
                and domain == DOMAIN
                and metadata.get("operation") == MISSING,
                (reason, domain, metadata),
            )

    client.delete_operation(FAILED)
    try:
        client.get_operation(FAILED)
        check("delete", False, "still there")
    except exceptions.NotFound:
        check("delete", True)


if __name__ == "__main__":
    main(sys.argv[1])
