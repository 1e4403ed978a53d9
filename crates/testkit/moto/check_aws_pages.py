"""Checks that aws_pages.py changes DescribeParameters' page size and cost only.

Starts stock `moto_server` and `aws_pages.py` side by side, applies the same calls to both
(puts, overwrites, deletes, tags, labels, between pages of a listing too), and compares
every DescribeParameters listing: page by page at 10 a page (the same pages, the same
NextTokens), and item by item at other page sizes. Exits non-zero on the first
difference.

Usage: .venv/bin/python crates/testkit/moto/check_aws_pages.py
"""

import os
import socket
import subprocess
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command):
    port = free_port()
    proc = subprocess.Popen(
        command + ["-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                sys.exit(f"server did not start: {command}")
            time.sleep(0.1)
    client = boto3.client(
        "ssm",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )
    return proc, client


def pages(client, size=None, first_token=None, **kwargs):
    """Every page of a listing, dates left out (the two servers write at different times)."""
    out, token = [], first_token
    while True:
        args = dict(kwargs)
        if size is not None:
            args["MaxResults"] = size
        if token:
            args["NextToken"] = token
        page = client.describe_parameters(**args)
        items = [
            {k: v for k, v in p.items() if k != "LastModifiedDate"}
            for p in page["Parameters"]
        ]
        token = page.get("NextToken")
        out.append((items, token))
        if not token:
            return out


def items(listing):
    return [item for page, _ in listing for item in page]


def error(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None


def main():
    venv_bin = os.path.dirname(sys.executable)
    stock_proc, stock = start([os.path.join(venv_bin, "moto_server")])
    fast_proc, fast = start([sys.executable, os.path.join(HERE, "aws_pages.py")])
    both = (stock, fast)
    checks = 0

    def same(label, a, b):
        nonlocal checks
        checks += 1
        if a != b:
            at = 0
            if isinstance(a, list) and isinstance(b, list):
                at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                a, b = a[at : at + 1], b[at : at + 1]
            sys.exit(f"DIFFERENT: {label}, from item {at}\n  stock: {str(a)[:400]}\n  aws_pages: {str(b)[:400]}")

    def compare(label, **kwargs):
        reference = pages(stock, **kwargs)
        same(f"{label}, pages of 10", reference, pages(fast, size=10, **kwargs))
        for size in (1, 7, 50):
            same(f"{label}, pages of {size}", items(reference), items(pages(fast, size=size, **kwargs)))
        return items(reference)

    try:
        for c in both:
            for i in range(240):
                name = (
                    f"/chk/svc{i % 5}/key{i:04}" if i % 3 else (f"top{i}" if i % 2 else f"/top{i}")
                )
                kwargs = dict(Name=name, Value=f"value-{i}", Type="SecureString" if i % 4 == 0 else "String")
                if i % 7 == 0:
                    kwargs["Tags"] = [{"Key": "team", "Value": f"t{i % 2}"}]
                if i % 11 == 0:
                    kwargs["Description"] = f"d{i}"
                c.put_parameter(**kwargs)

        equals = ["top3", "/top3", "/top6", "top9", "/chk/svc1/key0001", "chk/svc2/key0002", "/missing"]
        equals += [f"/chk/svc{i % 5}/key{i:04}" for i in range(100, 240, 3)][:43]
        filter_sets = {
            "no filter": {},
            "Name BeginsWith": dict(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/chk/svc1", "/chk/svc3"]}]),
            "Name Equals, 50 names": dict(ParameterFilters=[{"Key": "Name", "Values": equals}]),
            "Name Equals with Type": dict(
                ParameterFilters=[
                    {"Key": "Name", "Option": "Equals", "Values": equals},
                    {"Key": "Type", "Values": ["SecureString"]},
                ]
            ),
            "tag": dict(ParameterFilters=[{"Key": "tag:team", "Values": ["t1"]}]),
            "Path Recursive": dict(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/chk"]}]),
            "old Filters": dict(Filters=[{"Key": "Name", "Values": ["/chk/svc4"]}]),
        }

        def all_filters(stage):
            for label, kwargs in filter_sets.items():
                listed = compare(f"{stage}: {label}", **kwargs)
                if label != "no filter" and not listed:
                    sys.exit(f"{stage}: {label} lists nothing; the check would prove nothing")

        all_filters("after puts")

        # Changes between listings: overwrite, delete, re-create (moves to the end), tags,
        # labels. Each must show at once through the patched server's kept listings.
        changes = [
            lambda c: c.put_parameter(Name="/chk/svc1/key0001", Value="new", Overwrite=True),
            lambda c: c.delete_parameter(Name="/chk/svc4/key0004"),
            lambda c: c.delete_parameters(Names=["top3", "/top6"]),
            lambda c: c.put_parameter(Name="/top6", Value="again", Type="String"),
            lambda c: c.add_tags_to_resource(
                ResourceType="Parameter", ResourceId="/chk/svc1/key0001", Tags=[{"Key": "team", "Value": "t1"}]
            ),
            lambda c: c.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/chk/svc2/key0007", TagKeys=["team"]),
            lambda c: c.label_parameter_version(Name="/chk/svc1/key0001", Labels=["blue"]),
            lambda c: c.put_parameter(Name="/chk/svc1/zz-new", Value="v", Type="String"),
        ]
        for n, change in enumerate(changes):
            for c in both:
                change(c)
            all_filters(f"after change {n + 1}")

        # A change between two pages of the same listing (offset tokens on both).
        begins = filter_sets["Name BeginsWith"]
        first_stock = stock.describe_parameters(**begins)
        first_fast = fast.describe_parameters(MaxResults=10, **begins)
        same("first page", first_stock["NextToken"], first_fast["NextToken"])
        for c in both:
            c.delete_parameter(Name="/chk/svc1/key0016")
            c.put_parameter(Name="/chk/svc1/aa-late", Value="v", Type="String")
        same(
            "pages after a change mid-listing",
            pages(stock, first_token=first_stock["NextToken"], **begins),
            pages(fast, size=10, first_token=first_fast["NextToken"], **begins),
        )

        # Errors: the same where stock moto checks; MaxResults outside 1..50 refused.
        same(
            "Filters with ParameterFilters",
            error(lambda: stock.describe_parameters(Filters=[{"Key": "Name", "Values": ["a"]}], **filter_sets["Name Equals, 50 names"])),
            error(lambda: fast.describe_parameters(Filters=[{"Key": "Name", "Values": ["a"]}], **filter_sets["Name Equals, 50 names"])),
        )
        too_many = {"Key": "Name", "Values": [f"/n{i}" for i in range(51)]}
        same(
            "51 names",
            error(lambda: stock.describe_parameters(ParameterFilters=[too_many])),
            error(lambda: fast.describe_parameters(ParameterFilters=[too_many])),
        )
        for bad in (0, 51):
            got = error(lambda: fast.describe_parameters(MaxResults=bad))
            if got is None or got[0] != "ValidationException":
                sys.exit(f"MaxResults={bad} was not refused: {got}")
        print(f"aws_pages.py: {checks} comparisons with stock moto, all equal")
    finally:
        for proc in (stock_proc, fast_proc):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
