/*-------------------------------------------------------------------------
 *
 * lookup.c
 *		Query functions about one scanRef (1.4.0): its effective decision
 *		and its duplicate faces, read straight from the primary key and
 *		face-link indexes.
 *
 * These are called once per row of an analyst's query, so their own cost
 * is the cost: as PL/pgSQL each call went through the executor (a plan
 * kept per session, still started and ended per call) and, for a pinned
 * search_path, a GUC save and restore; here a call is one index scan per
 * lookup under the caller's snapshot.  They read as the function's owner
 * (SECURITY DEFINER, as before) and check that the owner may read the
 * tables, as the SQL did.
 *
 * The relations are found by name once per backend, and again after any
 * relcache invalidation of them (an upgrade that rebuilds an index, a
 * DROP EXTENSION).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_enum.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "idenfy.h"

/* ------------------------------------------------------------------------
 * The relations, found once.
 * ------------------------------------------------------------------------ */
typedef struct Relations
{
	bool		valid;
	Oid			verification;
	Oid			verification_pkey;
	Oid			face_link;
	Oid			face_link_pkey;		/* (scan_ref, kind, other_scan_ref) */
	Oid			face_link_other;	/* (other_scan_ref) */
	AttrNumber	v_client_id;
	AttrNumber	v_decision;
	AttrNumber	f_scan_ref;
	AttrNumber	f_kind;
	AttrNumber	f_other;
} Relations;

static Relations rels;

static void
RelationsInvalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rels.verification || relid == rels.verification_pkey ||
		relid == rels.face_link || relid == rels.face_link_pkey || relid == rels.face_link_other)
		rels.valid = false;
}

static Oid
Find(const char *name, Oid nsp)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation \"%s.%s\" does not exist", IDENFY_SCHEMA, name)));
	return relid;
}

static AttrNumber
Column(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "idenfy: column %s of %s not found", name, get_rel_name(relid));
	return attnum;
}

static const Relations *
GetRelations(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(RelationsInvalidate, (Datum) 0);
		registered = true;
	}
	if (!rels.valid)
	{
		Oid			nsp = get_namespace_oid(IDENFY_SCHEMA, false);

		rels.verification = Find("verification", nsp);
		rels.verification_pkey = Find("verification_pkey", nsp);
		rels.face_link = Find("face_link", nsp);
		rels.face_link_pkey = Find("face_link_pkey", nsp);
		rels.face_link_other = Find("face_link_other_idx", nsp);
		rels.v_client_id = Column(rels.verification, "client_id");
		rels.v_decision = Column(rels.verification, "decision");
		rels.f_scan_ref = Column(rels.face_link, "scan_ref");
		rels.f_kind = Column(rels.face_link, "kind");
		rels.f_other = Column(rels.face_link, "other_scan_ref");
		rels.valid = true;
	}
	return &rels;
}

/* Open a table for reading as the current user (the owner, in SECURITY DEFINER). */
static Relation
OpenForRead(Oid relid)
{
	AclResult	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(relid));
	return table_open(relid, AccessShareLock);
}

/* ------------------------------------------------------------------------
 * Index scans by the index's first column, one key after another.
 * ------------------------------------------------------------------------ */
typedef struct KeyScan
{
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} KeyScan;

static void
KeyScanBegin(KeyScan *ks, Relation heap, Oid indexid)
{
	ks->index = index_open(indexid, AccessShareLock);
	ks->slot = table_slot_create(heap, NULL);
	ks->scan = index_beginscan(heap, ks->index, GetActiveSnapshot(), 1, 0);
}

/* Start over with the rows whose first index column equals key. */
static void
KeyScanFind(KeyScan *ks, text *key)
{
	ScanKeyData skey;

	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   ks->index->rd_indcollation[0], F_TEXTEQ, PointerGetDatum(key));
	index_rescan(ks->scan, &skey, 1, NULL, 0);
}

static bool
KeyScanNext(KeyScan *ks)
{
	return index_getnext_slot(ks->scan, ForwardScanDirection, ks->slot);
}

static void
KeyScanEnd(KeyScan *ks)
{
	index_endscan(ks->scan);
	ExecDropSingleTupleTableSlot(ks->slot);
	index_close(ks->index, NoLock);
}

/* ------------------------------------------------------------------------
 * Stored verifications by scanRef: one scan, started over per scanRef.
 * ------------------------------------------------------------------------ */
typedef struct VerificationReader
{
	const Relations *rels;
	Relation	heap;
	KeyScan		pkey;
} VerificationReader;

static VerificationReader *
ReaderOpen(void)
{
	VerificationReader *reader = palloc(sizeof(VerificationReader));

	reader->rels = GetRelations();
	reader->heap = OpenForRead(reader->rels->verification);
	KeyScanBegin(&reader->pkey, reader->heap, reader->rels->verification_pkey);
	return reader;
}

/*
 * The stored verification of scan_ref: false when there is none; else its
 * decision and (client_id non-NULL) its clientId, palloc'd, NULL when none.
 */
static bool
ReaderGet(VerificationReader *reader, text *scan_ref, Oid *decision, char **client_id)
{
	bool		isnull;
	Datum		d;

	KeyScanFind(&reader->pkey, scan_ref);
	if (!KeyScanNext(&reader->pkey))
		return false;
	d = slot_getattr(reader->pkey.slot, reader->rels->v_decision, &isnull);
	*decision = isnull ? InvalidOid : DatumGetObjectId(d);
	if (client_id)
	{
		d = slot_getattr(reader->pkey.slot, reader->rels->v_client_id, &isnull);
		*client_id = isnull ? NULL : TextDatumGetCString(d);
	}
	return true;
}

static void
ReaderClose(VerificationReader *reader)
{
	KeyScanEnd(&reader->pkey);
	table_close(reader->heap, NoLock);
	pfree(reader);
}

/*
 * idenfy_effective_decision(scan_ref): the stored decision, NULL for a
 * scanRef never seen (STRICT: NULL for NULL).
 */
PG_FUNCTION_INFO_V1(idenfy_effective_decision);
Datum
idenfy_effective_decision(PG_FUNCTION_ARGS)
{
	VerificationReader *reader = ReaderOpen();
	Oid			decision = InvalidOid;
	bool		found = ReaderGet(reader, PG_GETARG_TEXT_PP(0), &decision, NULL);

	ReaderClose(reader);
	if (!found || !OidIsValid(decision))
		PG_RETURN_NULL();
	PG_RETURN_OID(decision);
}

/* ------------------------------------------------------------------------
 * idenfy_duplicate_faces(scan_ref)
 * ------------------------------------------------------------------------ */
typedef struct FaceLink
{
	char	   *other;
	Oid			kind;
	float4		kind_order;		/* the enum's sort order */
	bool		listed;			/* scan_ref listed other (else other listed scan_ref) */
} FaceLink;

/* by other scanRef in the database's collation, then kind in the enum's order (ORDER BY other, kind) */
static int
FaceLinkCompare(const void *a, const void *b)
{
	const FaceLink *x = a;
	const FaceLink *y = b;
	int			c = varstr_cmp(x->other, strlen(x->other), y->other, strlen(y->other),
							   DEFAULT_COLLATION_OID);

	if (c != 0)
		return c;
	if (x->kind_order != y->kind_order)
		return x->kind_order < y->kind_order ? -1 : 1;
	return 0;
}

static float4
EnumOrder(Oid label)
{
	HeapTuple	tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(label));
	float4		order;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "idenfy: enum value %u not found", label);
	order = ((Form_pg_enum) GETSTRUCT(tup))->enumsortorder;
	ReleaseSysCache(tup);
	return order;
}

/* Append the links of one index scan: other is column other_attno of each row. */
static FaceLink *
CollectLinks(const Relations *r, Relation face_link, Oid indexid, text *key, const char *self,
			 AttrNumber other_attno, bool listed, FaceLink *links, int *n, int *cap)
{
	KeyScan		ks;

	KeyScanBegin(&ks, face_link, indexid);
	KeyScanFind(&ks, key);
	while (KeyScanNext(&ks))
	{
		bool		isnull;
		char	   *other = TextDatumGetCString(slot_getattr(ks.slot, other_attno, &isnull));
		FaceLink   *l;

		if (strcmp(other, self) == 0)	/* a self-link says nothing */
			continue;
		if (*n == *cap)
		{
			*cap *= 2;
			links = repalloc(links, sizeof(FaceLink) * *cap);
		}
		l = &links[(*n)++];
		l->other = other;
		l->kind = DatumGetObjectId(slot_getattr(ks.slot, r->f_kind, &isnull));
		l->kind_order = EnumOrder(l->kind);
		l->listed = listed;
	}
	KeyScanEnd(&ks);
	return links;
}

/*
 * idenfy_duplicate_faces(scan_ref): every other scanRef linked to it by a
 * duplicate face, per kind, in either direction (listed: it listed the
 * other; listed_by: the other listed it; both), with the other's clientId
 * and decision where stored here; ordered by other scanRef, then kind.
 */
PG_FUNCTION_INFO_V1(idenfy_duplicate_faces);
Datum
idenfy_duplicate_faces(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *key = PG_GETARG_TEXT_PP(0);
	char	   *self = text_to_cstring(key);
	const Relations *r = GetRelations();
	Relation	face_link;
	VerificationReader *reader;
	int			cap = 8;
	int			n = 0;
	FaceLink   *links = palloc(sizeof(FaceLink) * cap);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	face_link = OpenForRead(r->face_link);
	links = CollectLinks(r, face_link, r->face_link_pkey, key, self, r->f_other, true,
						 links, &n, &cap);
	links = CollectLinks(r, face_link, r->face_link_other, key, self, r->f_scan_ref, false,
						 links, &n, &cap);
	if (n > 1)
		qsort(links, n, sizeof(FaceLink), FaceLinkCompare);

	reader = n > 0 ? ReaderOpen() : NULL;
	for (i = 0; i < n;)
	{
		bool		listed = false;
		bool		listed_by = false;
		int			j;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		Oid			decision = InvalidOid;
		char	   *client_id = NULL;
		bool		known;

		/* one row per (other, kind); equal texts are equal bytes (deterministic collation) */
		for (j = i; j < n && links[j].kind == links[i].kind && strcmp(links[j].other, links[i].other) == 0; j++)
		{
			if (links[j].listed)
				listed = true;
			else
				listed_by = true;
		}
		known = ReaderGet(reader, cstring_to_text(links[i].other), &decision, &client_id);
		values[0] = CStringGetTextDatum(links[i].other);
		values[1] = ObjectIdGetDatum(links[i].kind);
		values[2] = CStringGetTextDatum(listed && listed_by ? "both" : listed ? "listed" : "listed_by");
		if (client_id)
			values[3] = CStringGetTextDatum(client_id);
		else
			nulls[3] = true;
		if (known && OidIsValid(decision))
			values[4] = ObjectIdGetDatum(decision);
		else
			nulls[4] = true;
		values[5] = BoolGetDatum(known);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		i = j;
	}
	if (reader)
		ReaderClose(reader);
	table_close(face_link, NoLock);
	return (Datum) 0;
}
