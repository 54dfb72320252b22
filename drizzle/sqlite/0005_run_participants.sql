ALTER TABLE `event_runs` ADD `participants` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Runs that already have entries start from their count.
UPDATE event_runs SET participants = (SELECT count(*) FROM scores WHERE scores.event_id = event_runs.event_id AND scores.run_number = event_runs.run_number);
--> statement-breakpoint
-- What was pruned from the change log is now recorded (sequence numbers may have gaps on PostgreSQL): SQLite's are
-- gapless, so everything below the oldest change kept was pruned.
INSERT OR IGNORE INTO settings (name, value)
SELECT 'event_changes_pruned_through', CAST((SELECT min(sequence) FROM event_changes) - 1 AS TEXT)
WHERE EXISTS (SELECT 1 FROM event_changes);
