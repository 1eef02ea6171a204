/* sql/idenfy--1.0.0--1.1.0.sql: upgrade of the idenfy extension from 1.0.0 to 1.1.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.1.0'" to load this file. \quit

/*
 * The vendor's vocabulary page lists the overall status EXPIRED-DELETED (a
 * token expired and its data was deleted), which 1.0.0 did not know:
 * callbacks carrying it were stored with the value in unknown_values and
 * the decision REVIEW.  From 1.1.0 it is a value of idenfy.overall_status,
 * and the decision rules treat it like EXPIRED.  To re-apply the stored
 * callbacks, run in a new transaction:  SELECT * FROM idenfy_reprocess();
 */
ALTER TYPE idenfy.overall_status ADD VALUE IF NOT EXISTS 'EXPIRED-DELETED' AFTER 'EXPIRED';
