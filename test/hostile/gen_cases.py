#!/usr/bin/env python3
"""test/hostile/gen_cases.py: write the hostile callback corpus.

    python3 test/hostile/gen_cases.py OUTDIR          # bodies + OUTDIR/manifest.tsv
    python3 test/hostile/gen_cases.py --check         # fields.tsv still matches src/read.c?

Run at test time by test/t/hostile.sh (nothing generated is committed: some bodies are
megabytes).  Python 3 standard library only.

The corpus:
  * generated from fields.tsv (every field of the contract: JSON path, kind, limit), on the
    base callback test/fixtures/approved.json (personal values carry MARKER strings):
      - every wrong JSON type for every field (null is allowed everywhere), SQLSTATE 22023;
      - every wrong element type inside list, URL-map and service-list fields, 22023;
      - limit+1 characters for every field with a limit (ASCII and two-byte characters),
        22001 (22P02 for clientIp, whose check is "is an IP address"); and exactly the limit in
        two-byte characters, which must be stored (the limit counts characters, not bytes);
      - bad values per kind: epochs (-1, 1.5, 1e400, 1e-400, year 10000, 13 digits, ...),
        country codes, IP addresses;
  * size and depth: 10,000 and 100,000 nested arrays/objects in data.additionalData, 100,000
    fraudTags, 50,000 duplicateFaces, a 5 MB additionalData string, 100,000 unknown keys, a
    1 MB key, 10,000 fileUrls, 10,000 AML results, 100,000-digit numbers;
  * raw bodies that are not text or not JSON (invalid UTF-8, NUL bytes, control characters,
    a BOM, a truncated body), through the bytea entry point;
  * the hand-written cases of handwritten.tsv (bodies in cases/).
Each manifest row: name, entry, event type (an SQL expression), expected result, body file.
"""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import contract  # noqa: E402

JSON_TYPES = ["string", "number", "boolean", "object", "array"]
ALLOWED = {
    "string": {"string"}, "label": {"string"}, "country": {"string"}, "ip": {"string"},
    "bool": {"boolean"}, "epoch": {"number"}, "number": {"number"},
    "json": {"object", "array"},
    "string_list": {"array"}, "label_list": {"array"}, "scanref_list": {"array"},
    "object": {"object"}, "risk": {"object"}, "url_map": {"object"}, "services": {"array"},
}
# Values quoted in an error would show these: hostile.sh greps every error for them.
MARK = "HOSTILEVALUE"
SAMPLE = {
    "string": MARK,
    "number": 12345,
    "boolean": True,
    "object": {MARK: 1},
    "array": [MARK],
    "null": None,
}


class Corpus:
    def __init__(self, outdir):
        self.outdir = outdir
        self.rows = []
        self.names = set()

    def add(self, name, entry, expect, body=None, event="NULL", scan_ref=True):
        """body: a dict (serialized as JSON), bytes (raw), or None (no body)."""
        if name in self.names:
            raise SystemExit("duplicate case name " + name)
        self.names.add(name)
        n = len(self.rows) + 1
        path = "-"
        if body is not None:
            if isinstance(body, dict) and scan_ref:
                body = dict(body)
                body["scanRef"] = ("g%04d-" % n + name)[:40]
            if not isinstance(body, bytes):
                body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            path = os.path.join(self.outdir, "%04d.body" % n)
            with open(path, "wb") as f:
                f.write(body)
        self.rows.append((name, entry, event, expect, path))

    def write_manifest(self):
        with open(os.path.join(self.outdir, "manifest.tsv"), "w", encoding="utf-8") as f:
            for r in self.rows:
                f.write("\t".join(r) + "\n")


def set_path(doc, path, value):
    """Set a dotted path with [0] list steps, creating containers on the way."""
    steps = path.split(".")
    cur = doc
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if step.endswith("[0]"):
            key = step[:-3]
            if not isinstance(cur.get(key), list) or not cur[key]:
                cur[key] = [{}]
            if last:
                cur[key][0] = value
            else:
                if not isinstance(cur[key][0], dict):
                    cur[key][0] = {}
                cur = cur[key][0]
        elif last:
            cur[step] = value
        else:
            if not isinstance(cur.get(step), dict):
                cur[step] = {}
            cur = cur[step]
    return doc


def long_string(n, char="x"):
    """n characters, starting with the marker when it fits."""
    if char == "x" and n > len(MARK):
        return MARK + "x" * (n - len(MARK))
    return char * n


def field_cases(c, base, fields):
    for path, kind, limit in fields:
        short = path.replace("[0]", "0")
        # the scanRef cases keep the scanRef they test; the others get a unique one
        sr = path != "scanRef"
        # every wrong JSON type
        for t in JSON_TYPES:
            if t in ALLOWED[kind]:
                continue
            c.add("type-%s-%s" % (short, t), "jsonb", "22023",
                  set_path(copy.deepcopy(base), path, copy.deepcopy(SAMPLE[t])), scan_ref=sr)
        # elements of lists
        if kind in ("string_list", "label_list", "scanref_list"):
            for t in ["number", "boolean", "object", "array", "null"]:
                c.add("elem-%s-%s" % (short, t), "jsonb", "22023",
                      set_path(copy.deepcopy(base), path, ["OK", copy.deepcopy(SAMPLE[t])]), scan_ref=sr)
            c.add("elem-long-%s" % short, "jsonb", "22001",
                  set_path(copy.deepcopy(base), path, ["OK", long_string(limit + 1)]), scan_ref=sr)
            c.add("elem-long-mb-%s" % short, "jsonb", "22001",
                  set_path(copy.deepcopy(base), path, [long_string(limit + 1, "é")]), scan_ref=sr)
            c.add("elem-limit-mb-%s" % short, "jsonb", "stored",
                  set_path(copy.deepcopy(base), path, [long_string(limit, "é")]), scan_ref=sr)
            if kind == "scanref_list":
                c.add("elem-empty-%s" % short, "jsonb", "22023",
                      set_path(copy.deepcopy(base), path, [""]), scan_ref=sr)
            continue
        if kind == "url_map":
            for t in ["number", "boolean", "object", "array"]:
                c.add("elem-%s-%s" % (short, t), "jsonb", "22023",
                      set_path(copy.deepcopy(base), path, {"FACE": copy.deepcopy(SAMPLE[t])}), scan_ref=sr)
            c.add("name-long-%s" % short, "jsonb", "22023",
                  set_path(copy.deepcopy(base), path, {"N" * 101: "https://example.invalid/x"}), scan_ref=sr)
            c.add("name-empty-%s" % short, "jsonb", "22023",
                  set_path(copy.deepcopy(base), path, {"": "https://example.invalid/x"}), scan_ref=sr)
            c.add("name-format-%s" % short, "jsonb", "stored",
                  set_path(copy.deepcopy(base), path, {"%s%n%x": "https://x.invalid/?Expires=999999999999"}), scan_ref=sr)
            continue
        if kind == "services":
            for t in ["string", "number", "boolean", "array", "null"]:
                c.add("elem-%s-%s" % (short, t), "jsonb", "22023",
                      set_path(copy.deepcopy(base), path, [{}, copy.deepcopy(SAMPLE[t])]), scan_ref=sr)
            continue
        # limits
        if limit > 0:
            over = "22P02" if kind == "ip" else "22001"
            c.add("long-%s" % short, "jsonb", over,
                  set_path(copy.deepcopy(base), path, long_string(limit + 1)), scan_ref=sr)
            if kind != "ip":
                c.add("long-mb-%s" % short, "jsonb", over,
                      set_path(copy.deepcopy(base), path, long_string(limit + 1, "é")), scan_ref=sr)
                c.add("limit-mb-%s" % short, "jsonb", "stored",
                      set_path(copy.deepcopy(base), path, long_string(limit, "é")), scan_ref=sr)
        # bad values of a kind
        if kind == "epoch":
            for label, raw in [("minus1", "-1"), ("1e400", "1e400"),
                               ("year10000", "253402300800"), ("year10000-by-a-fraction", "253402300799.9999995"),
                               ("13digits", "1000000000000"), ("minus0.5", "-0.5"),
                               ("100k-digits", "9" * 100000)]:
                body = set_path(copy.deepcopy(base), path, "@@RAW@@")
                body["scanRef"] = ("g%04d-" % (len(c.rows) + 1) + "epoch")[:40]
                text = json.dumps(body, ensure_ascii=False).replace('"@@RAW@@"', raw)
                c.add("value-%s-%s" % (short, label), "jsonb", "22008", text.encode())
            # fractions: the vendor's format until 2019, kept to the microsecond (1e-400 is 0)
            for label, raw in [("0", "0"), ("max", "253402300799"), ("12.000", "12.000"),
                               ("minus0", "-0"), ("0.5e1", "0.5e1"), ("1.5", "1.5"),
                               ("1e-400", "1e-400"), ("max-fraction", "253402300799.999999"),
                               ("vendor-2019", "1554726960.324056")]:
                body = set_path(copy.deepcopy(base), path, "@@RAW@@")
                body["scanRef"] = ("g%04d-" % (len(c.rows) + 1) + "epoch-ok")[:40]
                text = json.dumps(body, ensure_ascii=False).replace('"@@RAW@@"', raw)
                c.add("value-%s-%s" % (short, label), "jsonb", "stored", text.encode())
        if kind == "country":
            for label, v in [("lower", "lt"), ("unassigned", "XX"), ("alpha3", "LTU"),
                             ("empty", ""), ("one", "L"), ("nonascii", "ÅL"), ("space", " LT")]:
                c.add("value-%s-%s" % (short, label), "jsonb", "22023",
                      set_path(copy.deepcopy(base), path, v), scan_ref=sr)
            c.add("value-%s-XK" % short, "jsonb", "stored", set_path(copy.deepcopy(base), path, "XK"), scan_ref=sr)
        if kind == "ip":
            for label, v in [("empty", ""), ("three-parts", "192.0.2"), ("octet256", "256.0.2.1"),
                             ("trailing-space", "192.0.2.1 "), ("cidr", "192.0.2.1/24"),
                             ("zone", "fe80::1%lo"), ("marker", MARK), ("hex-octets", "0x7f.1"),
                             ("ipv6-40", "2001:0db8:0000:0000:0000:0000:0000:00001")]:
                c.add("value-%s-%s" % (short, label), "jsonb", "22P02",
                      set_path(copy.deepcopy(base), path, v), scan_ref=sr)
            for label, v in [("v4mapped", "::ffff:192.0.2.1"), ("unspecified", "::"),
                             ("ipv6-39", "2001:0db8:0000:0000:0000:0000:0000:0001")]:
                c.add("value-%s-%s" % (short, label), "jsonb", "stored",
                      set_path(copy.deepcopy(base), path, v), scan_ref=sr)
        if kind == "number":
            for label, raw in [("1e400", "1e400"), ("minus-tiny", "-1e-400"),
                               ("100k-digits", "9" * 100000)]:
                body = set_path(copy.deepcopy(base), path, "@@RAW@@")
                body["scanRef"] = ("g%04d-" % (len(c.rows) + 1) + "number")[:40]
                text = json.dumps(body, ensure_ascii=False).replace('"@@RAW@@"', raw)
                c.add("value-%s-%s" % (short, label), "jsonb", "stored", text.encode())


def nested(depth, kind="array"):
    if kind == "array":
        return ("[" * depth + "]" * depth)
    return ('{"a":' * depth + "1" + "}" * depth)


def raw_with(base, name, key_path, raw):
    """base with key_path set to raw JSON text (for bodies json.dumps cannot build)."""
    body = set_path(copy.deepcopy(base), key_path, "@@RAW@@")
    body["scanRef"] = name[:40]
    return json.dumps(body, ensure_ascii=False).replace('"@@RAW@@"', raw).encode()


def size_cases(c, base):
    for depth in (10000, 100000):
        for kind in ("array", "object"):
            tag = "%dk" % (depth // 1000)
            body = raw_with(base, "nest-%s-%s" % (tag, kind), "data.additionalData", nested(depth, kind))
            if depth == 10000:
                c.add("nest-%s-%s-additionalData" % (tag, kind), "jsonb", "any", body)
                c.add("nest-%s-%s-additionalData-signed" % (tag, kind), "signed", "any", body)
            else:
                # the ::jsonb cast refuses before the entry point; the raw body reaches it
                c.add("nest-%s-%s-additionalData-cast" % (tag, kind), "cast", "error", body)
                c.add("nest-%s-%s-additionalData-signed" % (tag, kind), "signed", "22P02", body)
            # the raw body entry point: more than 64 open objects and arrays, with the position
            c.add("nest-%s-%s-additionalData-body" % (tag, kind), "body", "22P02", body)
    c.add("nest-5k-questionnaireAnswers", "jsonb", "any",
          raw_with(base, "nest-5k-questionnaire", "questionnaireAnswers", nested(5000)))
    c.add("nest-10k-inside-wrong-type", "jsonb", "22023",
          raw_with(base, "nest-10k-wrong-type", "clientId", nested(10000)))

    tags = ["DOC_MOBILE_PHOTO", "DEV_TOOLS_OPENED", "AUTO_UNVERIFIABLE", "SELFIE_FACE_FOUND"]
    c.add("fraudTags-100k", "jsonb", "stored",
          set_path(copy.deepcopy(base), "status.fraudTags", [tags[i % 4] for i in range(100000)]))
    c.add("fraudTags-100k-unknown", "jsonb", "stored",
          set_path(copy.deepcopy(base), "status.fraudTags", ["UNKNOWN_TAG_%06d" % i for i in range(100000)]))
    c.add("mismatchTags-100k-last-too-long", "jsonb", "22001",
          set_path(copy.deepcopy(base), "status.mismatchTags", ["NAME"] * 99999 + [long_string(101)]))
    c.add("duplicateFaces-50k", "jsonb", "stored",
          set_path(copy.deepcopy(base), "data.duplicateFaces",
                   ["00000000-0000-4000-8000-%012d" % i for i in range(50000)]))
    c.add("duplicateDocFaces-50k-same", "jsonb", "stored",
          set_path(copy.deepcopy(base), "data.duplicateDocFaces", ["00000000-0000-4000-8000-000000000001"] * 50000))
    c.add("duplicateFaces-50k-last-empty", "jsonb", "22023",
          set_path(copy.deepcopy(base), "data.duplicateFaces",
                   ["00000000-0000-4000-9000-%012d" % i for i in range(49999)] + [""]))
    five_mb = long_string(5 * 1024 * 1024)
    c.add("additionalData-5MB-string", "jsonb", "stored",
          set_path(copy.deepcopy(base), "data.additionalData", {"blob": five_mb}))
    # a raw body over idenfy.max_body_size (1 MB by default); the jsonb entry point has no such limit
    c.add("additionalData-5MB-string-signed-text", "signed_text", "22001",
          set_path(copy.deepcopy(base), "data.additionalData", {"blob": five_mb + "y"}))
    c.add("additionalData-5MB-plus-invalid-field", "jsonb", "22023",
          set_path(set_path(copy.deepcopy(base), "data.additionalData", {"blob": five_mb + "z"}),
                   "final", "yes"))
    c.add("clientId-5MB", "jsonb", "22001", set_path(copy.deepcopy(base), "clientId", five_mb))
    c.add("errorMessage-5MB", "jsonb", "stored", set_path(copy.deepcopy(base), "AML[0].errorMessage", five_mb))
    many = copy.deepcopy(base)
    for i in range(100000):
        many["unknownKey%06d" % i] = i
    c.add("unknown-keys-100k", "jsonb", "stored", many)
    onemb_key = copy.deepcopy(base)
    onemb_key["K" * (1024 * 1024)] = "v"
    c.add("unknown-key-1MB", "jsonb", "stored", onemb_key)
    c.add("fileUrls-10k", "jsonb", "stored",
          set_path(copy.deepcopy(base), "fileUrls",
                   {"FILE_%05d" % i: "https://x.invalid/f%d?Expires=%d" % (i, 1700000000 + i) for i in range(10000)}))
    aml = base["AML"][0]
    c.add("AML-10k", "jsonb", "stored",
          set_path(copy.deepcopy(base), "AML", [dict(aml, uid="uid-%d" % i) for i in range(10000)]))
    c.add("LID-10k-last-wrong", "jsonb", "22023",
          set_path(copy.deepcopy(base), "LID", [dict(aml, uid="uid-%d" % i) for i in range(9999)] + [[]]))


def raw_cases(c, base):
    """Bodies that are not text or not JSON: bytes, through the bytea entry point."""
    good = json.dumps(dict(base, scanRef="raw-truncated"), ensure_ascii=False).encode()
    c.add("truncated-half", "signed", "22P02", good[: len(good) // 2], scan_ref=False)
    c.add("truncated-last-byte", "signed", "22P02", good[:-1], scan_ref=False)
    c.add("truncated-in-multibyte", "signed", "22021", b'{"scanRef": "raw-mb", "clientId": "\xc3', scan_ref=False)
    for label, junk in [("ff", b"\xff"), ("overlong-slash", b"\xc0\xaf"), ("cesu-surrogate", b"\xed\xa0\x80"),
                        ("five-byte", b"\xf8\x88\x80\x80\x80"), ("above-10ffff", b"\xf4\x90\x80\x80"),
                        ("lone-continuation", b"\x80"), ("latin1-e9", b"caf\xe9")]:
        c.add("utf8-%s-in-value" % label, "signed", "22021",
              b'{"scanRef": "raw-utf8", "clientId": "' + junk + b'"}', scan_ref=False)
    c.add("utf8-ff-in-key", "signed", "22021", b'{"scanRef": "raw-utf8-key", "\xff": 1}', scan_ref=False)
    c.add("utf8-ff-outside-string", "signed", "22021", b'{"scanRef": "raw-utf8-out"}\xff', scan_ref=False)
    c.add("nul-byte-in-value", "signed", "22021", b'{"scanRef": "raw-nul", "clientId": "a\x00b"}', scan_ref=False)
    c.add("nul-byte-after-object", "signed", "22021", b'{"scanRef": "raw-nul-after"}\x00', scan_ref=False)
    c.add("nul-byte-only", "signed", "22021", b"\x00", scan_ref=False)
    c.add("control-char-in-string", "signed", "22P02", b'{"scanRef": "raw-ctl\x01", "final": true}', scan_ref=False)
    c.add("tab-in-string", "signed", "22P02", b'{"scanRef": "raw-tab\tx", "final": true}', scan_ref=False)
    c.add("newline-in-string", "signed", "22P02", b'{"scanRef": "raw-nl\nx", "final": true}', scan_ref=False)
    c.add("bom-prefix", "signed", "22P02", b'\xef\xbb\xbf{"scanRef": "raw-bom"}', scan_ref=False)
    c.add("bom-prefix-text", "signed_text", "22P02", b'\xef\xbb\xbf{"scanRef": "raw-bom"}', scan_ref=False)
    c.add("utf16le-body", "signed", "22021", '{"scanRef": "raw-utf16"}'.encode("utf-16-le"), scan_ref=False)
    c.add("crlf-and-spaces-valid", "signed", "stored",
          b'\r\n\t {"scanRef" :\r\n "raw-crlf" ,\t"final": false }\r\n', scan_ref=False)


def event_cases(c, base):
    small = {"final": False, "clientId": "evt"}
    for label, ev in [("empty", "''"), ("separators", "E'- _\\t-'"), ("nonascii", "'ÉVÉNEMENT_CANCELLED'"),
                      ("format", "'%s%n%x'"), ("10k-separators", "repeat('-', 10000)"),
                      ("resubmit-spelled", "'verification-resubmit'")]:
        c.add("event-%s" % label, "jsonb", "stored", dict(small, clientId="evt-" + label), event=ev)
    c.add("event-document-expiration-on-verification", "jsonb", "22023", copy.deepcopy(base),
          event="'DOCUMENT_EXPIRATION'")


def handwritten(c):
    with open(os.path.join(HERE, "handwritten.tsv"), encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, entry, event, expect, file = line.rstrip("\n").split("\t")
            body = None
            if file != "-":
                with open(os.path.join(HERE, "cases", file), "rb") as b:
                    body = b.read()
            c.add("hw-" + name, entry, expect, body, event=event, scan_ref=False)


def check():
    if not os.path.exists(os.path.join(ROOT, "src", "read.c")):
        print("src/read.c is not in this tree")
        return 3
    with open(os.path.join(ROOT, "src", "read.c"), encoding="utf-8") as f:
        read_c = f.read()
    with open(os.path.join(ROOT, "src", "idenfy.h"), encoding="utf-8") as f:
        idenfy_h = f.read()
    want = contract.parse_read_c(read_c, idenfy_h)
    have = contract.read_tsv(os.path.join(HERE, "fields.tsv"))
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    for r in missing:
        print("in src/read.c, not in fields.tsv: %s %s %d" % r)
    for r in extra:
        print("in fields.tsv, not in src/read.c: %s %s %d" % r)
    print("%d fields" % len(want))
    return 0 if not missing and not extra else 1


def main():
    if sys.argv[1:] == ["--check"]:
        return check()
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(ROOT, "test", "fixtures", "approved.json"), encoding="utf-8") as f:
        base = json.load(f)
    fields = contract.read_tsv(os.path.join(HERE, "fields.tsv"))
    c = Corpus(outdir)
    field_cases(c, base, fields)
    generated_fields = len(c.rows)
    size_cases(c, base)
    raw_cases(c, base)
    event_cases(c, base)
    generated = len(c.rows)
    handwritten(c)
    c.write_manifest()
    print("%d cases: %d generated from %d contract fields, %d size/depth/raw/event, %d hand-written"
          % (len(c.rows), generated_fields, len(fields), generated - generated_fields, len(c.rows) - generated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
