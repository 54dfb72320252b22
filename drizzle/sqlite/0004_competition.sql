CREATE TABLE `event_counters` (
	`event_id` text NOT NULL,
	`name` text NOT NULL,
	`value` integer NOT NULL,
	PRIMARY KEY(`event_id`, `name`),
	FOREIGN KEY (`event_id`) REFERENCES `events`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `reward_grants` (
	`id` text PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`run_number` integer NOT NULL,
	`player_id` text NOT NULL,
	`rank` integer NOT NULL,
	`rewards` text NOT NULL,
	`grant_time` integer NOT NULL,
	`claim_time` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `reward_grants_run_player_idx` ON `reward_grants` (`event_id`,`run_number`,`player_id`);--> statement-breakpoint
CREATE INDEX `reward_grants_player_idx` ON `reward_grants` (`player_id`,`grant_time`,`id`);--> statement-breakpoint
CREATE TABLE `scores` (
	`event_id` text NOT NULL,
	`run_number` integer NOT NULL,
	`player_id` text NOT NULL,
	`score` integer,
	`subscore` integer,
	`reached_seq` integer,
	`submissions` integer DEFAULT 0 NOT NULL,
	`metadata` text,
	`join_time` integer NOT NULL,
	`update_time` integer,
	`final_rank` integer,
	PRIMARY KEY(`event_id`, `run_number`, `player_id`),
	FOREIGN KEY (`event_id`) REFERENCES `events`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `scores_final_rank_idx` ON `scores` (`event_id`,`run_number`,`final_rank`);--> statement-breakpoint
ALTER TABLE `event_runs` ADD `finalized` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `events` ADD `leaderboard` text;--> statement-breakpoint
ALTER TABLE `events` ADD `counters_revision` integer DEFAULT 0 NOT NULL;