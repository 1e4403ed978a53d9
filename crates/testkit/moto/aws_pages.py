"""moto's server with SSM DescribeParameters paged as AWS pages it, for benchmarks at scale.

Applied by the test kit's launcher (server.py) when ROTOR_MOTO_AWS_PAGES=1; the tests
keep moto's own paging. Two changes, neither of which changes what a listing holds or its
order:

- DescribeParameters honours MaxResults. Stock moto returns pages of 10 whatever it asks.
  AWS's API reference gives MaxResults a valid range of 1 to 50 and no default
  (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html);
  without it the page stays at moto's 10, and a value outside 1..50 is refused with a
  ValidationException, as AWS refuses it.
- A page costs time in proportion to the page, not to the region's parameter count. Stock
  moto filters every parameter of the region (reading each one's tags) for every page, so
  listing N parameters costs O(N^2). Here a `Name` `Equals` filter is answered by
  dictionary lookup, and any other listing is computed once and kept until the region's
  parameters change.

Staleness is ruled out by a stamp per region: every public method of the SSM backend that
is not a read of parameters (put, delete, label, unlabel, tag, untag, and anything added
later) sets a new generation when it returns, and a listing is reused only under the
generation and parameter count it was computed under. The count also catches moto's lazy
loading of its public `/aws/service/...` parameters, which happens inside reads. Tags and
labels are kept apart from the parameters (a listing holds the parameter objects, which
moto replaces on every put), so they move a second generation only, which only listings
filtered by tag depend on: a sync that tags its source parameters as it goes keeps its
source listing.

Usage: python aws_pages.py [moto_server's arguments]
"""

import itertools
import json
import sys
import threading
from collections import OrderedDict

from moto.ssm import models, responses
from moto.ssm.exceptions import ValidationException

Backend = models.SimpleSystemManagerBackend
Response = responses.SimpleSystemManagerResponse

# moto's own default page when MaxResults is absent, and AWS's largest page.
DEFAULT_PAGE = 10
MAX_PAGE = 50
# Listings kept per region: the benchmark needs one (its include prefixes).
CACHED_LISTINGS = 16

# Backend methods that only read parameters, documents, commands and the like. Any other
# public method may change what a listing returns and moves the generation on.
READS = {
    "describe_parameters",
    "get_parameter",
    "get_parameters",
    "get_parameters_by_path",
    "get_parameter_history",
    "list_tags_for_resource",
    "describe_document",
    "describe_document_permission",
    "get_document",
    "list_documents",
    "list_commands",
    "get_command_by_id",
    "get_commands_by_instance_id",
    "get_command_invocation",
    "get_maintenance_window",
    "describe_maintenance_windows",
    "describe_maintenance_window_targets",
    "describe_maintenance_window_tasks",
    "describe_patch_baselines",
    "get_patch_baseline_for_patch_group",
    "iter_tagged_resources",
}

# Changes that touch only tags and labels: stock matching reads those for `tag:` and
# `Label` filters only (and DescribeParameters refuses `Label`).
TAGS_ONLY = {
    "add_tags_to_resource",
    "remove_tags_from_resource",
    "label_parameter_version",
    "unlabel_parameter_version",
}

_generations = itertools.count(1)
_lock = threading.Lock()
_stock_describe = Backend.describe_parameters


def _stamp(backend, tags=False):
    return (
        getattr(backend, "_rotor_generation", 0),
        getattr(backend, "_rotor_tag_generation", 0) if tags else 0,
        len(backend._parameters),
    )


def _reads_tags(filters, parameter_filters):
    keys = [f.get("Key", "") for f in (filters or []) + (parameter_filters or [])]
    return any(k.startswith("tag:") or k == "Label" for k in keys)


def _changes(method):
    tags_only = method.__name__ in TAGS_ONLY

    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            # After the change, so a listing computed while it ran is not reused.
            self._rotor_tag_generation = next(_generations)
            if not tags_only:
                self._rotor_generation = next(_generations)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def _name_equals(parameter_filters):
    """The values of a `Name` filter with option `Equals`, or None if there is none."""
    for f in parameter_filters or []:
        if f.get("Key") == "Name" and f.get("Option", "Equals") == "Equals":
            return f.get("Values") or []
    return None


def _positions(backend):
    """Each stored name's place in the region's order, and the names with more than one
    leading slash (which stock matching also equates with the name without them)."""
    stamp = _stamp(backend)
    cached = getattr(backend, "_rotor_positions", None)
    if cached is not None and cached[0] == stamp:
        return cached[1], cached[2]
    keys = list(dict.keys(backend._parameters))
    positions = {k: i for i, k in enumerate(keys)}
    slashes = [k for k in keys if k[:2] == "//"]
    backend._rotor_positions = (stamp, positions, slashes)
    return positions, slashes


def describe_parameters(self, filters, parameter_filters):
    names = _name_equals(parameter_filters)
    if names is not None and not filters:
        # The same validation, and the same matching, as stock moto, on the candidates
        # only: stock compares "/" + name.lstrip("/") on both sides.
        self._validate_parameter_filters(parameter_filters, by_path=False)
        positions, slashes = _positions(self)
        wanted = {v.lstrip("/") for v in names}
        candidates = set()
        for bare in wanted:
            for key in (bare, "/" + bare):
                if key in positions:
                    candidates.add(key)
        candidates.update(k for k in slashes if k.lstrip("/") in wanted)
        result = []
        for key in sorted(candidates, key=positions.__getitem__):
            parameter = self.get_parameter(key)
            if self._match_filters(parameter, parameter_filters):
                result.append(parameter)
        return result

    key = json.dumps([filters, parameter_filters], sort_keys=True)
    stamp = _stamp(self, tags=_reads_tags(filters, parameter_filters))
    with _lock:
        cache = self.__dict__.setdefault("_rotor_listings", OrderedDict())
        hit = cache.get(key)
        if hit is not None and hit[0] == stamp:
            cache.move_to_end(key)
            return hit[1]
    result = _stock_describe(self, filters, parameter_filters)
    with _lock:
        cache[key] = (stamp, result)
        cache.move_to_end(key)
        while len(cache) > CACHED_LISTINGS:
            cache.popitem(last=False)
    return result


def describe_parameters_response(self):
    # Stock moto's paging (NextToken is the offset of the page's first item; a full page
    # carries a NextToken even when nothing follows), with the page size asked for.
    page_size = self._get_param("MaxResults")
    if page_size is None:
        page_size = DEFAULT_PAGE
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE:
        bound = (
            f"less than or equal to {MAX_PAGE}"
            if isinstance(page_size, int) and page_size > MAX_PAGE
            else "greater than or equal to 1"
        )
        raise ValidationException(
            f"1 validation error detected: Value '{page_size}' at 'maxResults' failed to "
            f"satisfy constraint: Member must have value {bound}"
        )
    filters = self._get_param("Filters")
    parameter_filters = self._get_param("ParameterFilters")
    token = self._get_param("NextToken")
    if hasattr(token, "strip"):
        token = token.strip()
    token = int(token or "0")

    result = self.ssm_backend.describe_parameters(filters, parameter_filters)
    page = result[token : token + page_size]
    response = {
        "Parameters": [p.describe_response_object(False) for p in page],
    }
    if len(page) == page_size:
        response["NextToken"] = str(token + page_size)
    return responses.ActionResult(response)


def patch():
    for name, method in list(vars(Backend).items()):
        if name.startswith("_") or name in READS or not callable(method):
            continue
        if isinstance(method, (staticmethod, classmethod)):
            continue
        setattr(Backend, name, _changes(method))
    Backend.describe_parameters = describe_parameters
    Response.describe_parameters = describe_parameters_response


if __name__ == "__main__":
    patch()
    from moto.server import main

    sys.exit(main())
