"""test/hostile/contract.py: the field tables of src/read.c, read as data.

read.c's static Field arrays are the contract (README "How it is built"):
    {"key", K_KIND, SLOT, maxlen, arg, object, alias}
parse_read_c() turns them into (json path, kind, maxlen) rows, with the
table of each array mapped to the path where it applies.  fields.tsv is the
committed copy that the hostile corpus is generated from; gen_cases.py
--check compares the two, so a change of the contract in read.c shows up.
"""
import re

# Field array -> path prefixes where that table is read.
TABLE_PREFIXES = {
    "root_fields": [""],
    "status_fields": ["status."],
    "data_fields": ["data."],
    "risk_fields": ["riskAssessment."],
    "service_fields": ["AML[0].", "LID[0]."],
    "service_status_fields": ["AML[0].status.", "LID[0].status."],
}

KINDS = {
    "K_STRING": "string", "K_LABEL": "label", "K_COUNTRY": "country", "K_IP": "ip",
    "K_BOOL": "bool", "K_EPOCH": "epoch", "K_NUMBER": "number", "K_JSON": "json",
    "K_STRING_LIST": "string_list", "K_LABEL_LIST": "label_list",
    "K_SCAN_REF_LIST": "scanref_list", "K_OBJECT": "object", "K_RISK": "risk",
    "K_URL_MAP": "url_map", "K_SERVICES": "services",
}


def _defines(*texts):
    out = {}
    for text in texts:
        for m in re.finditer(r"^#define\s+(\w+)\s+(?:INT64CONST\()?(\d+)", text, re.M):
            out[m.group(1)] = int(m.group(2))
    return out


def parse_read_c(read_c, idenfy_h=""):
    """[(path, kind, maxlen)] in read.c order; raises ValueError when unsure."""
    defs = _defines(read_c, idenfy_h)
    rows = []
    for m in re.finditer(r"static Field (\w+)\[\] = \{(.*?)\n\};", read_c, re.S):
        table, body = m.group(1), m.group(2)
        if table not in TABLE_PREFIXES:
            raise ValueError("unknown field table %s in read.c" % table)
        for fm in re.finditer(r'\{"([^"]+)",\s*(K_\w+)\s*,\s*([\w-]+)\s*(?:,\s*(\w+))?', body):
            key, kind, _slot, maxlen = fm.groups()
            if kind not in KINDS:
                raise ValueError("unknown kind %s of %s" % (kind, key))
            if maxlen is None:
                n = 0
            elif maxlen.isdigit():
                n = int(maxlen)
            elif maxlen in defs:
                n = defs[maxlen]
            else:
                raise ValueError("cannot resolve the limit %s of %s" % (maxlen, key))
            kind = KINDS[kind]
            # list elements: scanRef lists take the scanRef limit (read.c ReadField)
            if kind == "scanref_list":
                n = defs["IDENFY_SCAN_REF_MAX"]
            # the IP check has its own limit and SQLSTATE (22P02), not 22001
            for prefix in TABLE_PREFIXES[table]:
                rows.append((prefix + key, kind, n))
    return rows


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            p, k, n = line.rstrip("\n").split("\t")
            rows.append((p, k, int(n)))
    return rows
