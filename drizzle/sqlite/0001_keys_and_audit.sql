CREATE TABLE `audit_entries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`time` integer NOT NULL,
	`actor_key_id` text NOT NULL,
	`method` text NOT NULL,
	`target_type` text NOT NULL,
	`target_id` text NOT NULL,
	`request_id` text NOT NULL,
	`changes` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_entries_target_idx` ON `audit_entries` (`target_id`,`id`);--> statement-breakpoint
CREATE INDEX `audit_entries_actor_idx` ON `audit_entries` (`actor_key_id`,`id`);--> statement-breakpoint
CREATE INDEX `audit_entries_time_idx` ON `audit_entries` (`time`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rotate_time` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `previous_secret_hash` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `previous_secret_expire_time` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `last_used_time` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rate_limit_per_second` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rate_limit_burst` integer;