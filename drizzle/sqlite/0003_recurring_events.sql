CREATE TABLE `event_changes` (
	`sequence` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`time` integer NOT NULL,
	`message` blob NOT NULL
);
--> statement-breakpoint
CREATE TABLE `event_runs` (
	`event_id` text NOT NULL,
	`run_number` integer NOT NULL,
	`start_time` integer NOT NULL,
	`end_time` integer NOT NULL,
	`ended_early` integer DEFAULT false NOT NULL,
	`start_announced` integer NOT NULL,
	`end_announced` integer NOT NULL,
	PRIMARY KEY(`event_id`, `run_number`),
	FOREIGN KEY (`event_id`) REFERENCES `events`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `event_runs_event_end_idx` ON `event_runs` (`event_id`,`end_time`);--> statement-breakpoint
CREATE INDEX `event_runs_start_pending_idx` ON `event_runs` (`start_time`) WHERE "event_runs"."start_announced" = 0;--> statement-breakpoint
CREATE INDEX `event_runs_end_pending_idx` ON `event_runs` (`end_time`) WHERE "event_runs"."end_announced" = 0;--> statement-breakpoint
ALTER TABLE `events` ADD `recurrence_rule` text;--> statement-breakpoint
ALTER TABLE `events` ADD `run_duration_ms` integer;--> statement-breakpoint
ALTER TABLE `events` ADD `end_limit` integer;--> statement-breakpoint
ALTER TABLE `events` ADD `runs_revision` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Every existing (one-off) event gets its one run; boundaries already passed count as announced.
INSERT INTO `event_runs` (`event_id`, `run_number`, `start_time`, `end_time`, `ended_early`, `start_announced`, `end_announced`)
SELECT `id`, 1, `start_time`, `end_time`, 0,
  `start_time` <= CAST(unixepoch('subsec') * 1000 AS INTEGER), `end_time` <= CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM `events`;
