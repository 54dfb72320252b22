CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`secret_hash` text NOT NULL,
	`create_time` integer NOT NULL,
	`expire_time` integer,
	`revoke_time` integer
);
--> statement-breakpoint
CREATE INDEX `api_keys_create_time_idx` ON `api_keys` (`create_time`);--> statement-breakpoint
CREATE TABLE `create_requests` (
	`request_id` text PRIMARY KEY NOT NULL,
	`fingerprint` text NOT NULL,
	`event_id` text NOT NULL,
	`create_time` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text NOT NULL,
	`description` text NOT NULL,
	`start_time` integer NOT NULL,
	`end_time` integer NOT NULL,
	`rewards` text NOT NULL,
	`metadata` text,
	`version` integer NOT NULL,
	`create_time` integer NOT NULL,
	`update_time` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_start_time_id_idx` ON `events` (`start_time`,`id`);--> statement-breakpoint
CREATE INDEX `events_end_time_idx` ON `events` (`end_time`);--> statement-breakpoint
CREATE TABLE `settings` (
	`name` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
