/*-------------------------------------------------------------------------
 *
 * rules.c
 *		The ordering rules and the decision rules, as pure functions.
 *
 * Each function here is one table of the README, row for row:
 *	 IdenfyOrderCallback  "Ordering rules": created, updated, stale, duplicate
 *	 IdenfyDecide		  "Decision rules": PENDING, APPROVED, DENIED, REVIEW,
 *						  EXPIRED
 * They read their inputs and nothing else: no SPI, no catalogs, no state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "idenfy.h"

static const char *const outcome_names[] = {
	[OUTCOME_CREATED] = "created",
	[OUTCOME_UPDATED] = "updated",
	[OUTCOME_STALE] = "stale",
	[OUTCOME_DUPLICATE] = "duplicate",
	[OUTCOME_REJECTED] = "rejected",
	[OUTCOME_QUARANTINED] = "quarantined",
	[OUTCOME_ERASED] = "erased",
};

static const char *const decision_names[] = {
	[DECISION_PENDING] = "PENDING",
	[DECISION_APPROVED] = "APPROVED",
	[DECISION_DENIED] = "DENIED",
	[DECISION_REVIEW] = "REVIEW",
	[DECISION_EXPIRED] = "EXPIRED",
};

const char *
IdenfyOutcomeName(IdenfyOutcome outcome)
{
	return outcome_names[outcome];
}

const char *
IdenfyDecisionName(IdenfyDecision decision)
{
	return decision_names[decision];
}

/*
 * IdenfyOrderCallback: what a new callback does to the stored state.
 *
 *	1. the same payload is already in history          -> duplicate
 *	   (its fingerprint outlives an erasure)
 *	E. the scanRef was erased (idenfy_forget_*, purge) -> erased: only the
 *	   fingerprint is kept, nothing of the person
 *	2. nothing stored for the scanRef                  -> created
 *	3. event type IDENTIFICATION_RESUBMITTED           -> updated
 *	4. stored final, new not final                     -> stale
 *	5. equal finality, stored has manual results and
 *	   the new one has none                            -> stale
 *	6. otherwise (the later arrival wins)              -> updated
 *
 * A DOCUMENT_EXPIRATION notice has no ordering of its own: created when
 * its threshold is new for the scanRef, else updated.
 */
IdenfyOutcome
IdenfyOrderCallback(const IdenfyStoredState *stored, const IdenfyCallback *cb)
{
	if (stored->seen_payload)
		return OUTCOME_DUPLICATE;
	if (stored->erased)
		return OUTCOME_ERASED;
	if (cb->expiration_notice)
		return stored->notice_exists ? OUTCOME_UPDATED : OUTCOME_CREATED;
	if (!stored->exists)
		return OUTCOME_CREATED;
	if (cb->resubmitted)
		return OUTCOME_UPDATED;
	if (stored->final && !cb->final)
		return OUTCOME_STALE;
	if (stored->final == cb->final && stored->has_manual && !cb->has_manual)
		return OUTCOME_STALE;
	return OUTCOME_UPDATED;
}

static bool
Is(const char *value, const char *label)
{
	return value != NULL && strcmp(value, label) == 0;
}

/*
 * IdenfyDecide: the effective decision of a verification's current state,
 * rules applied in this order (the first that applies decides):
 *
 *	1. not final                                        -> PENDING
 *	2. overall EXPIRED (or EXPIRED-DELETED, known from
 *	   version 1.1.0), or the session was cancelled     -> EXPIRED
 *	3. face (manual, else auto) not FACE_MATCH, or
 *	   document (manual, else auto) not DOC_VALIDATED   -> DENIED
 *	4. overall DENIED                                   -> DENIED
 *	5. any value unknown to our enum types              -> REVIEW
 *	   (an unknown overall status reaches this rule: the
 *	   caller passes it as NULL)
 *	6. overall SUSPECTED, or any fraud or mismatch tag:
 *	   a tag whose policy is DENIED                     -> DENIED
 *	   every tag's policy APPROVED                      -> APPROVED
 *	   otherwise (no policy row counts as REVIEW;
 *	   SUSPECTED without a tag)                         -> REVIEW
 *	7. overall APPROVED                                 -> APPROVED
 *	8. any other overall (REVIEWING, ACTIVE, null, ...) -> PENDING
 *
 * *reasons gets the facts behind the decision as text ("FACE:FACE_MISMATCH").
 */
IdenfyDecision
IdenfyDecide(const IdenfyDecisionInput *in, List **reasons)
{
	bool		suspected;
	bool		any_denied = false;
	bool		all_approved = true;
	int			i;

	*reasons = NIL;

	/* 1 */
	if (!in->final)
	{
		*reasons = lappend(*reasons, pstrdup("NOT_FINAL"));
		return DECISION_PENDING;
	}

	/* 2 */
	if (in->cancelled || Is(in->overall, "EXPIRED") || Is(in->overall, "EXPIRED-DELETED"))
	{
		*reasons = lappend(*reasons, in->cancelled ? pstrdup("CANCELLED") :
						   psprintf("OVERALL:%s", in->overall));
		return DECISION_EXPIRED;
	}

	/* 3 */
	if (!Is(in->face, "FACE_MATCH"))
		*reasons = lappend(*reasons, psprintf("FACE:%s", in->face ? in->face : "null"));
	if (!Is(in->document, "DOC_VALIDATED"))
		*reasons = lappend(*reasons, psprintf("DOCUMENT:%s", in->document ? in->document : "null"));
	if (*reasons != NIL)
		return DECISION_DENIED;

	/* 4 */
	if (Is(in->overall, "DENIED"))
	{
		*reasons = lappend(*reasons, pstrdup("OVERALL:DENIED"));
		return DECISION_DENIED;
	}

	/* 5 */
	if (in->nunknown > 0)
	{
		for (i = 0; i < in->nunknown; i++)
			*reasons = lappend(*reasons, psprintf("UNKNOWN_VALUE:%s", in->unknown_paths[i]));
		return DECISION_REVIEW;
	}

	/* 6 */
	suspected = Is(in->overall, "SUSPECTED");
	if (suspected || in->ntags > 0)
	{
		if (suspected)
			*reasons = lappend(*reasons, pstrdup("OVERALL:SUSPECTED"));
		for (i = 0; i < in->ntags; i++)
		{
			int			p = in->tag_policies[i];

			*reasons = lappend(*reasons, psprintf("TAG:%s", in->tags[i]));
			if (p == DECISION_DENIED)
				any_denied = true;
			if (p != DECISION_APPROVED)
				all_approved = false;
		}
		if (any_denied)
			return DECISION_DENIED;
		if (in->ntags > 0 && all_approved)
			return DECISION_APPROVED;
		return DECISION_REVIEW;
	}

	/* 7 */
	if (Is(in->overall, "APPROVED"))
		return DECISION_APPROVED;

	/* 8 */
	*reasons = lappend(*reasons, psprintf("OVERALL:%s", in->overall ? in->overall : "null"));
	return DECISION_PENDING;
}
