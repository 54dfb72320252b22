-- Rate limits are counters of the last seconds: no WAL for them (a crash empties the table, forgiving some calls).
ALTER TABLE "rate_limits" SET UNLOGGED;--> statement-breakpoint
-- Tie-break numbers continue after those already given (the next nextval is max + 1).
SELECT setval('scores_reached_seq', COALESCE((SELECT max("reached_seq") FROM "scores"), 0) + 1, false);
