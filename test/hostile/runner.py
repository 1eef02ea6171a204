#!/usr/bin/env python3
"""test/hostile/runner.py: send the hostile corpus through the entry points, one pass.

    python3 test/hostile/runner.py PASS MANIFEST DB STATE_FILE

PASS 1 runs with idenfy.on_invalid = 'error', PASS 2 with 'quarantine' (and reads what pass 1
recorded in STATE_FILE).  One psql process runs the whole pass (fast); every case starts on a
new connection (\\c), whose "SELECT 1" is the check that the server survived the case before.
Per case it records the row count of every idenfy table before and after the call, the outcome
or the SQLSTATE, the quarantine rows written and the error text, and judges them.

Prints lines for test/t/hostile.sh: "ok|description" or "not ok|description" (one per failing
case, then one summary line), and "stat|key|value".
PGHOST, PGPORT, PGUSER come from the environment; the signing key is "hostile-signing-key".
"""
import collections
import json
import re
import subprocess
import sys

KEY = "hostile-signing-key"
TABLES = ["verification", "document", "file_url", "service_result", "face_link", "callback",
          "document_expiration", "quarantine"]
ALLOWED = re.compile(r"^(22|28|54)")  # data exception, invalid authorization, program limit
SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")
LEAK = re.compile(r"HOSTILEVALUE|MARKER|198\.51\.100\.")
COUNTS = "SELECT concat_ws(',', %s)" % ", ".join(
    "(SELECT count(*) FROM idenfy.%s)" % t for t in TABLES)


def from_clause(entry, ev):
    body = "convert_from(pg_read_binary_file(:'f'), 'UTF8')"
    raw = "(SELECT pg_read_binary_file(:'f') AS b) r"
    txt = "(SELECT %s AS b) r" % body
    mac = "hmac(r.b, convert_to(:'key', 'UTF8'), 'sha256')"
    tmac = "hmac(r.b, :'key', 'sha256')"
    return {
        "jsonb": "idenfy_ingest(%s::jsonb, %s) s" % (body, ev),
        "cast": "idenfy_ingest(%s::jsonb, %s) s" % (body, ev),
        "null": "idenfy_ingest(NULL::jsonb, %s) s" % ev,
        "routed_other": "idenfy_ingest_routed('another-scan-ref', %s::jsonb, %s) s" % (body, ev),
        "signed": "%s, idenfy_ingest_signed(r.b, encode(%s, 'hex'), %s) s" % (raw, mac, ev),
        "signed_upper": "%s, idenfy_ingest_signed(r.b, upper(encode(%s, 'hex')), %s) s" % (raw, mac, ev),
        "signed_space": "%s, idenfy_ingest_signed(r.b, ' ' || encode(%s, 'hex'), %s) s" % (raw, mac, ev),
        "signed_badsig": "%s, idenfy_ingest_signed(r.b, encode(hmac(r.b, 'another-key'::bytea, 'sha256'), 'hex'), %s) s" % (raw, ev),
        "signed_nosig": "%s, idenfy_ingest_signed(r.b, NULL::text, %s) s" % (raw, ev),
        "signed_malformed": "%s, idenfy_ingest_signed(r.b, 'not-a-signature', %s) s" % (raw, ev),
        "signed_nullbody": "idenfy_ingest_signed(NULL::bytea, repeat('0', 64), %s) s" % ev,
        "signed_text": "%s, idenfy_ingest_signed(r.b, encode(%s, 'hex'), %s) s" % (txt, tmac, ev),
        "body": "%s, idenfy_ingest_body(r.b, %s) s" % (raw, ev),
        "body_text": "%s, idenfy_ingest_body(r.b, %s) s" % (txt, ev),
        "signed_badsig_text": "%s, idenfy_ingest_signed(r.b, encode(hmac(r.b, 'another-key', 'sha256'), 'hex'), %s) s" % (txt, ev),
    }[entry]


def script(cases, pass_no):
    out = []
    for i, (name, entry, ev, expect, path) in enumerate(cases):
        out.append("\\c")
        out.append("\\warn @@CASE %d" % i)
        out.append("\\echo @@CASE %d" % i)
        out.append("SELECT 'ALIVE 1';")
        out.append("\\unset c0\n\\unset q0\n\\unset out")
        out.append("SET client_min_messages = warning;")
        if pass_no == 2:
            out.append("SET idenfy.on_invalid = 'quarantine';")
        out.append("\\set f '%s'" % path)
        out.append("%s AS c0, (SELECT coalesce(max(id), 0) FROM idenfy.quarantine) AS q0 \\gset" % COUNTS)
        out.append("\\echo BEFORE :c0")
        out.append("SELECT s.outcome AS out FROM %s \\gset" % from_clause(entry, ev))
        out.append("\\if :ERROR\n\\echo RESULT error :LAST_ERROR_SQLSTATE\n\\else\n\\echo RESULT ok :out\n\\endif")
        out.append("SELECT 'AFTER ' || (%s);" % COUNTS)
        out.append("SELECT 'QROW ' || sqlstate || ' ' || reason FROM idenfy.quarantine WHERE id > :q0 ORDER BY id;")
    out.append("\\c")
    out.append("\\warn @@CASE end")
    out.append("\\echo @@CASE end")
    out.append("SELECT 'ALIVE 1';")
    return "\n".join(out) + "\n"


def split(text):
    """{case index or 'end': [lines]} from the output marked with @@CASE."""
    parts = collections.defaultdict(list)
    cur = None
    for line in text.splitlines():
        if line.startswith("@@CASE "):
            cur = line[7:]
            continue
        parts[cur].append(line)
    return parts


def main():
    pass_no, manifest, db, state_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    cases = []
    with open(manifest, encoding="utf-8") as f:
        for line in f:
            cases.append(tuple(line.rstrip("\n").split("\t")))
    state = {}
    if pass_no == 2:
        with open(state_file) as f:
            state = json.load(f)

    proc = subprocess.run(["psql", "-X", "-qAt", "-d", db, "-v", "key=" + KEY],
                          input=script(cases, pass_no).encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    outs = split(proc.stdout.decode("utf-8", "replace"))
    errs = split(proc.stderr.decode("utf-8", "replace"))

    tally = collections.Counter()
    fails = []
    partial = leaks = internal = down = 0
    new_state = {}
    diags = []

    def fail(name, why):
        # one line per failing case, with all its reasons
        prefix = "hostile case %s (pass %d): " % (name, pass_no)
        if fails and fails[-1].startswith(prefix):
            fails[-1] += "; " + why
        else:
            fails.append(prefix + why)

    for i, (name, entry, ev, expect, path) in enumerate(cases):
        lines = outs.get(str(i), [])
        err = "\n".join(errs.get(str(i), []))
        nxt = outs.get(str(i + 1) if i + 1 < len(cases) else "end", [])
        first_error = next((l for l in err.splitlines() if "ERROR" in l), "").strip()
        if "ALIVE 1" not in nxt:
            down += 1
            fail(name, "the server did not accept a new connection afterwards")
        vals = {}
        qrows = []
        for l in lines:
            k, _, v = l.partition(" ")
            if k == "QROW":
                qrows.append(v)
            elif k in ("BEFORE", "AFTER", "RESULT"):
                vals[k] = v
        if not all(k in vals for k in ("BEFORE", "AFTER", "RESULT")) or vals["BEFORE"].startswith(":"):
            fail(name, "no result (connection lost?): %s" % err[:300].replace("\n", " "))
            continue
        kind, _, got = vals["RESULT"].partition(" ")
        before = vals["BEFORE"].split(",")
        after = vals["AFTER"].split(",")
        others_same = before[:7] == after[:7]
        qdelta = int(after[7]) - int(before[7])
        cdelta = int(after[5]) - int(before[5])
        counts = "%s -> %s" % (vals["BEFORE"], vals["AFTER"])

        if entry != "cast" and LEAK.search(err):
            leaks += 1
            fail(name, "the error quotes a callback value: %s" % LEAK.search(err).group(0))

        if expect in ("any", "error") and pass_no == 1:
            diags.append("%s (%s, expected %s): %s" % (name, entry, expect,
                                                       got if kind == "ok" else "error " + got))
        if kind == "error":
            tally["error " + got] += 1
            if pass_no == 1:
                new_state[name] = got
            if got.startswith("XX"):
                internal += 1
            if not ALLOWED.match(got):
                fail(name, "SQLSTATE %s is not a clear data error: %s" % (got, first_error))
            if vals["BEFORE"] != vals["AFTER"]:
                partial += 1
                fail(name, "partial write after error %s: counts %s" % (got, counts))
            if pass_no == 1:
                if expect == "stored":
                    fail(name, "expected stored, got error %s: %s" % (got, first_error))
                elif SQLSTATE.match(expect) and got != expect:
                    fail(name, "expected %s, got %s: %s" % (expect, got, first_error))
            elif entry == "cast":
                if got != state.get(name):
                    fail(name, "cast error %s, was %s without quarantine" % (got, state.get(name)))
            else:
                fail(name, "raised %s instead of being quarantined: %s" % (got, first_error))
            continue

        tally["result " + got] += 1
        # a signature failure kept in quarantine answers rejected (1.6.0), anything else quarantined
        if got == "rejected" and not entry.startswith("signed_"):
            fail(name, "rejected, but the signature was right")
        if got in ("quarantined", "rejected"):
            p1 = state.get(name, "")
            if pass_no == 1:
                fail(name, "quarantined with idenfy.on_invalid = 'error'")
            if qdelta != 1 or not others_same:
                partial += 1
                fail(name, "quarantined, but counts %s (%s)" % (counts, " ".join(TABLES)))
            if len(qrows) != 1 or qrows[0].split(" ")[0] != p1:
                fail(name, "quarantine rows %s, expected one with SQLSTATE %s" % (qrows, p1))
            if not SQLSTATE.match(p1):
                fail(name, "quarantined, but pass 1 gave %s" % p1)
            continue
        # stored: created, updated, stale or duplicate
        if pass_no == 1:
            new_state[name] = got
        if qdelta != 0:
            fail(name, "outcome %s, but a quarantine row was written" % got)
        if got == "duplicate":
            if vals["BEFORE"] != vals["AFTER"]:
                fail(name, "duplicate, but counts %s" % counts)
        elif cdelta != 1:
            fail(name, "outcome %s, but %d history rows were written" % (got, cdelta))
        if pass_no == 1 and SQLSTATE.match(expect):
            fail(name, "expected %s, got outcome %s" % (expect, got))
        if pass_no == 2 and SQLSTATE.match(state.get(name, "")):
            fail(name, "stored (%s) with quarantine on, but pass 1 raised %s" % (got, state[name]))

    if "ALIVE 1" not in outs.get("0", []):
        fails.append("pass %d: the first connection failed: %s" % (pass_no, proc.stderr[:300]))
    if pass_no == 1:
        with open(state_file, "w") as f:
            json.dump(new_state, f)

    for line in diags:
        print("diag|" + line)
    for line in fails:
        print("not ok|" + line)
    errors = sum(v for k, v in tally.items() if k.startswith("error "))
    results = sum(v for k, v in tally.items() if k.startswith("result "))

    def fmt(prefix):
        return ", ".join("%s: %d" % (k[len(prefix):], v) for k, v in sorted(tally.items()) if k.startswith(prefix))

    summary = ("%d hostile cases, idenfy.on_invalid = %s: %d errors (%s), %d results (%s), "
               "%d partial writes, %d failing cases"
               % (len(cases), "error" if pass_no == 1 else "quarantine", errors, fmt("error "),
                  results, fmt("result "), partial, len(fails)))
    print(("ok|" if not fails else "not ok|summary: ") + summary)
    print("stat|down|%d" % down)
    print("stat|leaks|%d" % leaks)
    print("stat|internal|%d" % internal)
    # kept in quarantine: invalid callbacks, and signature failures (answered rejected since 1.6.0)
    print("stat|quarantined|%d" % (tally["result quarantined"] + tally["result rejected"]))
    print("stat|calls|%d" % len(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
