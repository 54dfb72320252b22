CREATE TABLE `audiences` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text NOT NULL,
	`expression` text NOT NULL,
	`include_ids` text NOT NULL,
	`exclude_ids` text NOT NULL,
	`create_time` integer NOT NULL,
	`update_time` integer NOT NULL,
	`version` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `event_audiences` (
	`event_id` text NOT NULL,
	`audience_name` text NOT NULL,
	`excluded` integer NOT NULL,
	PRIMARY KEY(`event_id`, `audience_name`),
	FOREIGN KEY (`event_id`) REFERENCES `events`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`audience_name`) REFERENCES `audiences`(`name`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `event_audiences_audience_idx` ON `event_audiences` (`audience_name`);--> statement-breakpoint
CREATE TABLE `player_token_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`secret` text NOT NULL,
	`create_time` integer NOT NULL,
	`retire_time` integer
);
--> statement-breakpoint
CREATE TABLE `players` (
	`id` text PRIMARY KEY NOT NULL,
	`properties` text NOT NULL,
	`create_time` integer NOT NULL,
	`update_time` integer NOT NULL,
	`version` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `events` ADD `audiences` text;--> statement-breakpoint
ALTER TABLE `events` ADD `excluded_audiences` text;