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
 * The relations are found once per backend (tables.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_enum.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "idenfy.h"

/* ------------------------------------------------------------------------
 * Stored verifications by scanRef: one scan, started over per scanRef.
 * ------------------------------------------------------------------------ */
typedef struct VerificationReader
{
	const IdenfyTables *rels;
	Relation	heap;
	IdenfyKeyScan pkey;
} VerificationReader;

/* Start over with the rows whose first index column is scan_ref. */
static void
KeyScanText(IdenfyKeyScan *ks, text *scan_ref)
{
	Datum		key = PointerGetDatum(scan_ref);
	RegProcedure proc = F_TEXTEQ;

	IdenfyKeyScanFind(ks, &key, &proc);
}

static VerificationReader *
ReaderOpen(void)
{
	VerificationReader *reader = palloc(sizeof(VerificationReader));

	reader->rels = IdenfyGetTables();
	reader->heap = IdenfyOpenTable(reader->rels->verification, ACL_SELECT, AccessShareLock);
	IdenfyKeyScanBegin(&reader->pkey, reader->heap, reader->rels->verification_pkey,
					   GetActiveSnapshot(), 1);
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

	KeyScanText(&reader->pkey, scan_ref);
	if (!IdenfyKeyScanNext(&reader->pkey))
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
	IdenfyKeyScanEnd(&reader->pkey);
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
CollectLinks(const IdenfyTables *r, Relation face_link, Oid indexid, text *key, const char *self,
			 AttrNumber other_attno, bool listed, FaceLink *links, int *n, int *cap)
{
	IdenfyKeyScan ks;

	IdenfyKeyScanBegin(&ks, face_link, indexid, GetActiveSnapshot(), 1);
	KeyScanText(&ks, key);
	while (IdenfyKeyScanNext(&ks))
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
	IdenfyKeyScanEnd(&ks);
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
	const IdenfyTables *r = IdenfyGetTables();
	Relation	face_link;
	VerificationReader *reader;
	int			cap = 8;
	int			n = 0;
	FaceLink   *links = palloc(sizeof(FaceLink) * cap);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	face_link = IdenfyOpenTable(r->face_link, ACL_SELECT, AccessShareLock);
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
