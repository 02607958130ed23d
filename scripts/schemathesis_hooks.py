"""Hooks for scripts/schemathesis, loaded through SCHEMATHESIS_HOOKS.

The OpenAPI document states every rule of a request that JSON Schema can state (lengths,
patterns, enumerations, bounds, one shape per kind). The rest it cannot, and this file
supplies what schemathesis needs so that a request generated as valid is valid
(`positive_data_acceptance`) while one made invalid on purpose stays invalid:

- generators for the formats the document names (`domain-name`, `icp-number`, `uscc`,
  `cidr`, `uri`, `date`, `date-time`, `provider-id`, ...), which yield only values the
  server takes: a registrable name, a credit code with its right check character, a date
  from 2000-01-01 to yesterday in China, a provider registered before the run;
- `before_call`, which makes a request consistent with the registry's state and the path
  where the body cannot say it (the body's code is the path's, a referral goes to the other
  side, a provider update keeps the stored kind, a key expires in the future); it changes
  only values that are already well formed, and schemathesis judges the request as sent;
- `filter_failure`, which drops three failures that the registry's state decides (see there);
- the serializers of the import bodies (NDJSON, CSV) and of document uploads, whose bytes
  must start as their media type says (JSON Schema does not judge bytes).
"""

import csv
import datetime
import io
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

import schemathesis
from hypothesis import strategies as st

# --- formats -------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_LDH = _LETTERS + "0123456789"


def _label():
    # 2 to 13 LDH characters starting with a letter: never all digits, never "xn--".
    return st.text(_LDH, min_size=1, max_size=12).map(lambda s: "s" + s)


_UNICODE_LABELS = ["例子", "商城", "测试", "购物"]

# Registrable under these suffixes, so that a listing is never refused as a public suffix.
_SUFFIXES = ["cn", "com.cn", "net", "org", "com", "中国", "xn--fiqs8s"]


@st.composite
def _domain_names(draw):
    labels = draw(st.lists(st.one_of(_label(), st.sampled_from(_UNICODE_LABELS)), min_size=1, max_size=3))
    suffix = draw(st.sampled_from(_SUFFIXES))
    # A two-letter label right under cn is a provincial suffix (sd.cn, sh.cn, sc.cn), so
    # the name would be a public suffix: lengthen it (without drawing more, so that the
    # other generated values stay as they were).
    if suffix == "cn" and len(labels) == 1 and len(labels[0]) == 2:
        labels[0] += "x"
    name = ".".join(labels + [suffix])
    if draw(st.booleans()):
        name = name.upper() if draw(st.booleans()) else name + "."
    return name


schemathesis.openapi.format("domain-name", _domain_names())

# The alphabet of unified social credit codes (GB 32100-2015) and the weights of its check.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def _uscc_check(body):
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def _with_check(body):
    return body + _uscc_check(body)


_USCC_RE = re.compile(r"^[0-9A-HJ-NP-RTUW-Y]{18}$")


def _is_uscc(value):
    return isinstance(value, str) and _USCC_RE.match(value.strip().upper()) is not None


schemathesis.openapi.format(
    "uscc",
    st.builds(
        lambda province, rest: _with_check("91" + province + "0000" + rest),
        st.sampled_from(["11", "31", "44", "51"]),
        st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9),
    ),
)

_ICP_PROVINCES = "京沪粤川浙苏"
_ICP_PROVINCE_CODES = {"京": "11", "沪": "31", "粤": "44", "川": "51", "浙": "33", "苏": "32"}

schemathesis.openapi.format(
    "icp-number",
    st.builds(
        lambda p, n, site: f"{p}ICP备{n}号" + (f"-{site}" if site else ""),
        st.sampled_from(_ICP_PROVINCES),
        st.integers(10_000_000, 99_999_999),
        st.integers(0, 9),
    ),
)


@st.composite
def _cidrs(draw):
    import ipaddress

    if draw(st.booleans()):
        prefix = draw(st.integers(8, 32))
        address = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
        return str(ipaddress.IPv4Network(f"{address}/{prefix}", strict=False))
    prefix = draw(st.integers(16, 128))
    address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    return str(ipaddress.IPv6Network(f"{address}/{prefix}", strict=False))


schemathesis.openapi.format("cidr", _cidrs())

schemathesis.openapi.format(
    "uri",
    st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(["http", "https"]),
        st.sampled_from(["hooks.example.cn", "127.0.0.1:9", "[::1]:9"]),
        st.text(_LDH, max_size=10),
    ),
)


def _today_in_china():
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).date()


# A document's date: from 2000-01-01, the default documents.earliest_date, to today in China
# (a day's margin, so that a run across midnight does not matter).
schemathesis.openapi.format(
    "date",
    st.dates(datetime.date(2000, 1, 1), _today_in_china() - datetime.timedelta(days=1)).map(str),
)

# A key's expiry: in the future (an hour to a year ahead; auth.key_max_days is off here).
schemathesis.openapi.format(
    "date-time",
    st.integers(3600, 365 * 86400).map(
        lambda s: (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=s))
        .replace(microsecond=0)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    ),
)

# --- fix-ups -------------------------------------------------------------------------------

# Providers registered by scripts/schemathesis before the run, one of each kind: the ids a
# valid request may name (formats provider-id, access-provider-id, dns-provider-id).
_PROVIDERS = {
    "access": os.environ.get("SCHEMATHESIS_ACCESS_PROVIDER", "p_0000000000000000"),
    "dns": os.environ.get("SCHEMATHESIS_DNS_PROVIDER", "p_0000000000000001"),
}
_PROVIDER_ID = re.compile(r"^p_[0-9a-f]{16}$")

schemathesis.openapi.format("provider-id", st.sampled_from(sorted(_PROVIDERS.values())))
schemathesis.openapi.format("access-provider-id", st.just(_PROVIDERS["access"]))
schemathesis.openapi.format("dns-provider-id", st.just(_PROVIDERS["dns"]))


def _route(ctx):
    operation = ctx.operation
    return (operation.method.upper(), operation.path) if operation else (None, None)


def _unique_keys(records, key):
    """A key repeated on a later line is a line error (duplicate_record): give repeats of a
    well-formed key a fresh well-formed one."""
    seen = set()
    for n, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get(key), str):
            continue
        normal = record[key].strip().upper()
        if normal in seen:
            if key == "uscc" and _is_uscc(record[key]):
                record[key] = _with_check("9111000000" + f"{n:07d}")
            elif key == "icp_number":
                record[key] = f"京ICP备{20_000_000 + n}号"
            normal = record[key].strip().upper()
        seen.add(normal)


def _past(text):
    """Whether an RFC 3339 time is (nearly) past; False for anything that is not one."""
    if not re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$", text):
        return False
    try:
        at = datetime.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return at <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)


def _stored_kind(provider_id):
    """The kind of a registered provider, read with the admin token; None when unknown."""
    token = os.environ.get("SCHEMATHESIS_ADMIN_TOKEN")
    base = os.environ.get("SCHEMATHESIS_BASE_URL")
    if not token or not base or not isinstance(provider_id, str) or not _PROVIDER_ID.match(provider_id):
        return None
    request = urllib.request.Request(
        f"{base}/v1/providers/{provider_id}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response).get("kind")
    except (urllib.error.URLError, ValueError):
        return None


def _fit_kind(body, kind):
    """Makes a provider update fit the stored provider's kind: a valid `kind` is made the
    stored one, and a list of the other kind (strings, within the limit) is emptied."""
    if body.get("kind") in ("access", "dns"):
        body["kind"] = kind
    other = "nameservers" if kind == "access" else "ranges"
    value = body.get(other)
    if isinstance(value, list) and len(value) <= 10_000 and all(isinstance(v, str) for v in value):
        body[other] = []


# Referrals are sent by the run's market regulators (samr, amr:<province>): a referral goes
# to the other side, the telecom organisations (ca:<province>, miit).
_OTHER_SIDE = {"samr": "miit"}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Runs before every request of every phase; schemathesis judges the request as sent."""
    method, path = _route(ctx)
    body = case.body
    # A key's expiry must lie ahead: a well-formed time that does not is moved a day ahead.
    if method == "POST" and path == "/v1/keys" and isinstance(body, dict):
        expires = body.get("expires_at")
        if isinstance(expires, str) and _past(expires):
            body["expires_at"] = (
                datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
    if path in ("/v1/registrations/import", "/v1/recordals/import") and isinstance(body, list):
        _unique_keys(body, "uscc" if "registrations" in path else "icp_number")
    # The body's code, when given, must be the path's: a well-formed one is made the path's.
    if method == "PUT" and path == "/v1/registrations/{uscc}" and isinstance(body, dict):
        if _is_uscc(body.get("uscc")) and _is_uscc(case.path_parameters.get("uscc")):
            body["uscc"] = case.path_parameters["uscc"]
    if method == "PUT" and path == "/v1/recordals/{icp_number}" and isinstance(body, dict):
        given = body.get("icp_number")
        if isinstance(given, str) and given.strip() and isinstance(case.path_parameters.get("icp_number"), str):
            body["icp_number"] = urllib.parse.unquote(case.path_parameters["icp_number"])
    # A recorded site's recordal province is that of its ICP number's prefix.
    if method == "POST" and path == "/v1/cases" and isinstance(body, dict):
        icp, province = body.get("icp_number"), body.get("recordal_province")
        if body.get("recorded") is True and isinstance(icp, str) and isinstance(province, str):
            body["recordal_province"] = _ICP_PROVINCE_CODES.get(icp.strip()[:1], province)
    if method == "PATCH" and path == "/v1/providers/{id}" and isinstance(body, dict):
        kind = _stored_kind(case.path_parameters.get("id"))
        if kind:
            _fit_kind(body, kind)
    if method == "POST" and path == "/v1/referrals" and isinstance(body, dict):
        to = body.get("to")
        if isinstance(to, str) and (to == "samr" or to.startswith("amr:")):
            body["to"] = _OTHER_SIDE.get(to) or "ca:" + to[4:]
    # Long-polls are tested elsewhere; here a valid wait is kept short.
    if method == "GET" and path == "/v1/feed" and isinstance(case.query, dict):
        wait = case.query.get("wait")
        if isinstance(wait, int) and not isinstance(wait, bool) and 1 < wait <= 30:
            case.query["wait"] = 1


def _csv_cell(value):
    return value is None or isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    )


@schemathesis.hook
def filter_case(ctx, case):
    # CSV carries text only: a record whose values are of another JSON type (a case made
    # invalid by its types) cannot be written as CSV, and is not sent as such.
    if case.media_type == "text/csv" and isinstance(case.body, list):
        return all(
            isinstance(r, dict) and all(_csv_cell(v) for v in r.values()) for r in case.body
        )
    return True


def _answer(response):
    try:
        return json.loads(response.content)
    except ValueError:
        return {}


# The paths of four-eyes reviews, of listings and of lifts.
REVIEWS = (
    "/v1/entries/{domain}/approve",
    "/v1/entries/{domain}/reject",
    "/v1/entries/{domain}/lift/approve",
    "/v1/entries/{domain}/lift/reject",
)


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Keeps every failure but three that the registry's state, not the request, decides:

    - `ensure_resource_availability` (ST302) on approving or rejecting an entry, or its lift,
      that a listing just made. The stateful phase links a listing to every path below its
      Location, review included; but only an entry held for four-eyes review (or a lift
      waiting for approval) can be approved or rejected, and for any other the contract
      answers 404 not_pending.
    - `ensure_resource_availability` (ST302) on locating again (`POST .../locate`) an entry
      that a listing just made, answered 404 not_listed: the stateful phase links the listing
      to its lift as well, and once the lift ran there is no active entry to locate.
    - `positive_data_acceptance` (ST202) on a recordals import refused only because a sponsor
      has a listed site (operator_blacklisted): the single `PUT` answers that with 409, which
      the check expects, and an import reports it on the line, in its 422.
    """
    method, path = _route(ctx)
    code = getattr(failure, "code", None)
    answer = _answer(response)
    if code == "ST302" and path in REVIEWS:
        return not (isinstance(answer, dict) and answer.get("error", {}).get("code") == "not_pending")
    if code == "ST302" and path == "/v1/entries/{domain}/locate":
        return not (isinstance(answer, dict) and answer.get("error", {}).get("code") == "not_listed")
    if code == "ST202" and path == "/v1/recordals/import" and isinstance(answer, dict):
        errors = answer.get("errors") or []
        return not (errors and all(e.get("code") == "operator_blacklisted" for e in errors))
    return True


# --- import bodies -------------------------------------------------------------------------


def _records(value):
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None


@schemathesis.serializer("application/x-ndjson")
def ndjson_serializer(ctx, value):
    if isinstance(value, bytes):
        return value
    records = _records(value)
    if records is None:
        return str(value).encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


@schemathesis.serializer("text/csv")
def csv_serializer(ctx, value):
    if isinstance(value, bytes):
        return value
    records = _records(value)
    if records is None:
        return str(value).encode("utf-8")
    columns = sorted({key for r in records for key in r})
    if not columns:
        return b""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in records:
        row = []
        for column in columns:
            cell = r.get(column)
            if cell is None:
                row.append("")
            elif isinstance(cell, list):
                row.append(";".join(str(c) for c in cell))
            else:
                row.append(str(cell))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


# --- document uploads ----------------------------------------------------------------------

# The first bytes of each media type POST /v1/documents takes: a body the document calls valid
# (a binary string) is sent starting with them, so that it is what its Content-Type says; a
# body of another JSON type (a case made invalid on purpose) is sent as JSON text, which no
# document starts with and the server refuses (422 document_type_mismatch).
_SIGNATURES = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}


def _document_bytes(value):
    data = getattr(value, "data", value)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    return None


def _document_serializer(signature):
    def serialize(ctx, value):
        data = _document_bytes(value)
        if data is None:
            return json.dumps(value).encode("utf-8")
        return signature + data

    return serialize


for _media_type, _signature in _SIGNATURES.items():
    schemathesis.serializer(_media_type)(_document_serializer(_signature))
