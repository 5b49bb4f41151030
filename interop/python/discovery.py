"""The discovery-based Python client (google-api-python-client), unchanged,
against an lro server.

build() fetches the API's discovery document from the server (the test
serves discovery/lro-v1.json at /$discovery/rest) and the client calls the
REST routes of lrohttp. The server and its operations come from the
environment (see interop/server_test.go). Prints "ok <check>" for each check
that passed and exits non-zero at the first that fails.
"""

import json
import os
import sys
import time

import httplib2
from googleapiclient import discovery
from googleapiclient.errors import HttpError

ENV = os.environ
DONE, FAILED = ENV["LRO_OP_DONE"], ENV["LRO_OP_FAILED"]
SLOW, BLOCK = ENV["LRO_OP_SLOW"], ENV["LRO_OP_BLOCK"]
MISSING, DOMAIN = ENV["LRO_OP_MISSING"], ENV["LRO_ERROR_DOMAIN"]
PARENT = ENV["LRO_PARENT"]
ALL = sorted([DONE, FAILED, SLOW, BLOCK])


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def http_error(call):
    """The HttpError call raises, or None."""
    try:
        call.execute()
    except HttpError as exc:
        return exc
    return None


def main():
    service = discovery.build(
        "lro",
        "v1",
        http=httplib2.Http(),
        discoveryServiceUrl=ENV["LRO_HTTP_URL"] + "/$discovery/rest?version={apiVersion}",
        cache_discovery=False,
    )
    ops = service.projects().locations().operations()

    op = ops.get(name=DONE).execute()
    check("get-done", op["done"] and op["response"]["value"] == "42s", op)

    op = ops.get(name=FAILED).execute()
    check(
        "get-failed",
        op["error"]["code"] == 9 and op["error"]["message"] == ENV["LRO_FAILED_MESSAGE"],
        op,
    )

    names, pages = [], 0
    request = ops.list(name=PARENT, pageSize=2)
    while request is not None:
        response = request.execute()
        names += [o["name"] for o in response.get("operations", [])]
        pages += 1
        request = ops.list_next(request, response)
    check("list-pages", sorted(names) == ALL and pages >= 2, (names, pages))
    response = ops.list(name=PARENT, filter="done = true").execute()
    names = sorted(o["name"] for o in response.get("operations", []))
    check("list-filter", names == sorted([DONE, FAILED]), response)

    # The discovery client has no waiting of its own: poll with get, as its
    # users do, and also use the API's own :wait.
    op = ops.get(name=SLOW).execute()
    check("wait-saw-running", not op.get("done"), op)
    deadline = time.monotonic() + 60
    while not op.get("done") and time.monotonic() < deadline:
        time.sleep(0.05)
        op = ops.get(name=SLOW).execute()
    check("wait", op.get("done") and op["response"]["value"] == "42s", op)

    check("cancel-empty", ops.cancel(name=BLOCK, body={}).execute() == {})
    op = ops.wait(name=BLOCK, body={"timeout": "30s"}).execute()
    check("cancel", op.get("done") and op["error"]["code"] == 1, op)

    exc = http_error(ops.get(name=MISSING))
    check("not-found", exc is not None and exc.resp.status == 404, exc)
    error = json.loads(exc.content)["error"]
    info = [d for d in error.get("details", []) if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo"]
    check(
        "error-reason",
        error["status"] == "NOT_FOUND"
        and info
        and info[0]["reason"] == "OPERATION_NOT_FOUND"
        and info[0]["domain"] == DOMAIN
        and info[0]["metadata"]["operation"] == MISSING,
        error,
    )

    check("delete-empty", ops.delete(name=FAILED).execute() == {})
    exc = http_error(ops.get(name=FAILED))
    check("delete", exc is not None and exc.resp.status == 404, exc)


if __name__ == "__main__":
    main()
